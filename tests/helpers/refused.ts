/** The error a call that must be refused threw; fails the test if it did not throw. */
export async function refused(call: () => Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await call();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected a refusal");
}
