import { ensureClients, ensureConformance, ensureMoto, ensureTools } from '../tools/local/tools';

/** Installs the pinned servers and test tools into .tools/ (idempotent). */
const paths = ensureTools((line) => console.log(line));
const conformance = ensureConformance((line) => console.log(line));
const clients = ensureClients((line) => console.log(line));
const moto = ensureMoto((line) => console.log(line));
console.log(`tools ready: ${JSON.stringify({ ...paths, conformance, ...clients, moto })}`);
