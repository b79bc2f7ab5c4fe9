export interface AdmissionOptions {
  readonly maxStreams: number;
  /**
   * How long a request waits for a slot; well under the load balancer's idle timeout (300 s), which
   * would cut a connection on which nothing moves.
   * @default 120_000
   */
  readonly maxWaitMs?: number;
}

/**
 * How many upload bodies one uploader task streams at once (lambda/config/uploader.ts sets the
 * limit from the task's memory): an unbounded number of parallel layer pushes would exhaust the
 * task and fail every upload on it.
 * Requests beyond the limit wait, their bodies unread (TCP holds the client back), until a slot
 * frees; one that waits too long is answered 429 with `Retry-After`, which clients retry.
 */
export class UploadAdmission {
  private running = 0;
  private highest = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: AdmissionOptions) {
    if (!Number.isInteger(options.maxStreams) || options.maxStreams < 1) {
      throw new Error(`the uploader's stream limit must be a whole number of at least 1, got ${options.maxStreams}`);
    }
  }

  /** Streams running now, and the most that ever ran at once (a gauge for metrics and tests). */
  get inFlight(): number {
    return this.running;
  }

  get peak(): number {
    return this.highest;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Waits for a slot. Resolves with the function that gives it back (call it exactly once, when the
   * request is answered), or with undefined when no slot freed within the wait.
   */
  async acquire(): Promise<(() => void) | undefined> {
    if (this.running >= this.options.maxStreams) {
      const admitted = await new Promise<boolean>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(wake), 1);
          resolve(false);
        }, this.options.maxWaitMs ?? 120_000);
        this.waiting.push(wake);
      });
      if (!admitted) return undefined;
    } else {
      this.running++;
    }
    this.highest = Math.max(this.highest, this.running);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so a new arrival cannot overtake it.
      if (next) next();
      else this.running--;
    };
  }
}
