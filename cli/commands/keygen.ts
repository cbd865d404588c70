// NOTE: placeholder until the 'keygen' command is written.
export const help = "Usage: migtd-repro keygen (not available in this version)";

export async function run(): Promise<number> {
  process.stderr.write("migtd-repro: 'keygen' is not available in this version\n");
  return 2;
}
