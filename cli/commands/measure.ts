// NOTE: placeholder until the 'measure' command is written.
export const help = "Usage: migtd-repro measure (not available in this version)";

export async function run(): Promise<number> {
  process.stderr.write("migtd-repro: 'measure' is not available in this version\n");
  return 2;
}
