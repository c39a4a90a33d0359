/**
 * The entry point of a command-line script: runs its async `main`, exits with the code it returns,
 * and on an unexpected error prints the stack (a bug to report, not a usage error) and exits 1.
 */
export const runMain = (main: () => Promise<number>): void => {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exit(1);
    },
  );
};
