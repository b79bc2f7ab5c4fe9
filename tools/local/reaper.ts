import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

let reaper: ChildProcess | undefined;

/**
 * Makes `child` end with this process, however this process ends: a watcher process (reaper-process.cjs)
 * stops it when this one is gone. Servers stopped on purpose should be `release`d first.
 */
export function endWithThisProcess(child: ChildProcess): void {
  if (!child.pid) return;
  if (!reaper || !reaper.connected) {
    reaper = fork(join(__dirname, 'reaper-process.cjs'), [], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      execArgv: [],
    });
    // Neither the watcher nor its channel keeps this process alive.
    reaper.unref();
    reaper.channel?.unref();
  }
  reaper.send({ add: child.pid });
  child.once('exit', () => {
    if (reaper?.connected && child.pid) reaper.send({ remove: child.pid });
  });
}
