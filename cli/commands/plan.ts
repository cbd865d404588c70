// NOTE: placeholder until the 'plan' command is written.
export const help = "Usage: migtd-repro plan (not available in this version)";

export async function run(): Promise<number> {
  process.stderr.write("migtd-repro: 'plan' is not available in this version\n");
  return 2;
}
