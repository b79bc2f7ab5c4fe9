'use strict';
/**
 * Ends local mode's servers when the process that started them ends, however it ends (`kill -9`
 * included): that process sends the pid of each server it starts over the IPC channel, and when the
 * channel closes (the process is gone) this one stops them, SIGTERM then SIGKILL. It runs in a process
 * group of its own, so it outlives a signal sent to the group it watches.
 */
const pids = new Set();
process.on('message', (message) => {
  if (message && typeof message.add === 'number') pids.add(message.add);
  if (message && typeof message.remove === 'number') pids.delete(message.remove);
});
process.on('disconnect', () => {
  const signal = (name) => {
    for (const pid of pids) {
      try {
        process.kill(pid, name);
      } catch {
        pids.delete(pid);
      }
    }
  };
  signal('SIGTERM');
  setTimeout(() => {
    signal('SIGKILL');
    process.exit(0);
  }, 3000);
});
