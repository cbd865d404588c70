// NOTE: placeholder until the 'hash' command is written.
export const help = "Usage: migtd-repro hash (not available in this version)";

export async function run(): Promise<number> {
  process.stderr.write("migtd-repro: 'hash' is not available in this version\n");
  return 2;
}
