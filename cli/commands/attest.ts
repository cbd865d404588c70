// NOTE: placeholder until the 'attest' command is written.
export const help = "Usage: migtd-repro attest (not available in this version)";

export async function run(): Promise<number> {
  process.stderr.write("migtd-repro: 'attest' is not available in this version\n");
  return 2;
}
