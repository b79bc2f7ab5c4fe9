/**
 * Loaded first by the command-line tools (bin/): hides the AWS SDK's warning that its releases after
 * January 2027 need Node 22. The functions run on Lambda's Node 24, and the eleven lines it prints on
 * every start of a local tool ask nothing of the user here. Every other warning prints as before.
 */
const printers = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (`${warning.name} ${warning.message}`.includes('NodeVersionSupportWarning')) return;
  for (const print of printers) print(warning);
});
