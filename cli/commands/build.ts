// NOTE: placeholder until the 'build' command is written.
export const help = "Usage: migtd-repro build (not available in this version)";

export async function run(): Promise<number> {
  process.stderr.write("migtd-repro: 'build' is not available in this version\n");
  return 2;
}
