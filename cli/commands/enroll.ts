// NOTE: placeholder until the 'enroll' command is written.
export const help = "Usage: migtd-repro enroll (not available in this version)";

export async function run(): Promise<number> {
  process.stderr.write("migtd-repro: 'enroll' is not available in this version\n");
  return 2;
}
