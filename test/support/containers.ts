import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Runs skopeo and podman (containers/image) inside a private scratch dir: their own blob-info
 * cache (so skopeo never skips a blob it believes the registry has), storage, and a signature
 * policy that accepts anything, with nothing written to the machine's containers state.
 */
export class ContainersTools {
  readonly env: NodeJS.ProcessEnv;
  readonly policy: string;

  constructor(readonly work: string) {
    this.env = {
      ...process.env,
      _CONTAINERS_ROOTLESS_UID: '1000',
      XDG_DATA_HOME: join(work, 'xdg'),
      XDG_RUNTIME_DIR: join(work, 'run'),
      HOME: join(work, 'home'),
    };
    this.policy = join(work, 'policy.json');
  }

  private writePolicy(): void {
    writeFileSync(this.policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  }

  skopeo(...args: string[]) {
    this.writePolicy();
    return run('skopeo', ['--policy', this.policy, ...args], { env: this.env, maxBuffer: 1 << 24 });
  }

  /** podman with vfs storage under the scratch dir; `pull`/`push` get the policy passed by the caller. */
  podman(...args: string[]) {
    this.writePolicy();
    const w = this.work;
    const root = ['--root', join(w, 'podroot'), '--runroot', join(w, 'podrun'), '--tmpdir', join(w, 'podtmp')];
    return run('podman', [...root, '--storage-driver', 'vfs', '--events-backend', 'none', ...args], {
      env: this.env,
      maxBuffer: 1 << 24,
    });
  }
}
