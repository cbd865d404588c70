// NOTE: placeholder until the 'verify' command is written.
export const help = "Usage: migtd-repro verify (not available in this version)";

export async function run(): Promise<number> {
  process.stderr.write("migtd-repro: 'verify' is not available in this version\n");
  return 2;
}
