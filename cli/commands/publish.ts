// NOTE: placeholder until the 'publish' command is written.
export const help = "Usage: migtd-repro publish (not available in this version)";

export async function run(): Promise<number> {
  process.stderr.write("migtd-repro: 'publish' is not available in this version\n");
  return 2;
}
