/** What the health endpoint asks of the backing stores: one cheap read, with a deadline. */
export interface HealthCheck {
  /**
   * Resolves when the metadata store answers a read within the check's deadline. Throws
   * UnavailableError otherwise (unreachable, missing table, throttled, too slow), with a message fit
   * for the client: it names no resource.
   */
  check(): Promise<void>;
}
