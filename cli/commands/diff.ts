// NOTE: placeholder until the 'diff' command is written.
export const help = "Usage: migtd-repro diff (not available in this version)";

export async function run(): Promise<number> {
  process.stderr.write("migtd-repro: 'diff' is not available in this version\n");
  return 2;
}
