/** One subcommand: its help text and its entry point. */
export interface Command {
  /** Full help: usage line, every option with its unit, exit statuses. */
  readonly help: string;

  /**
   * Help that depends on the other arguments, e.g. the options a recipe
   * adds to `build --recipe X`; `help` is used when absent.
   */
  helpFor?(argv: string[]): Promise<string>;

  /** Runs the command on its own arguments; resolves to the exit status. */
  run(argv: string[]): Promise<number>;
}
