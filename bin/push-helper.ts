#!/usr/bin/env -S node --import tsx
import type { AddressInfo } from 'node:net';
import '../tools/quiet-warnings';
import {
  createPushHelper,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_PART_CONCURRENCY,
  DEFAULT_PART_SIZE,
} from '../tools/push-helper/relay';

/**
 * `npm run push-helper -- https://registry.example.com [port] [--chunks]`: a registry on
 * localhost:<port> (default 5000) that relays to the deployed one. Upload bodies go straight to the
 * registry's bucket through presigned part URLs, and the registry verifies them by reading them
 * back; with `--chunks` (or towards a registry without direct uploads) they go through the registry
 * in chunks its functions accept. Then `docker push localhost:5000/team/app:1.0` works for any layer
 * size.
 */
const USAGE = `usage: npm run push-helper -- <registry URL> [port] [--chunks | --parts]

A registry on localhost:<port> (default 5000; 0 takes a free one) that relays pushes to <registry URL>: layer bodies go
straight to the registry's bucket: each blob of up to 5 GiB is kept in the temporary directory until
its digest is known, then sent in one request the bucket checks against it (--parts: in parts as it
arrives, which the registry reads back; --chunks: through the registry in chunks its functions
accept). Then \`docker push localhost:<port>/team/app:1.0\` works for any layer.

environment: REGISTRY_PUSH_PART_SIZE (first parts, bytes), REGISTRY_PUSH_PART_CONCURRENCY (most parts at
once; fewer while more do not help), REGISTRY_PUSH_CHUNK_SIZE (bytes)`;
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const chunks = args.includes('--chunks');
const parts = args.includes('--parts');
const [upstream, port = '5000'] = args.filter((a) => a !== '--chunks' && a !== '--parts');
if (!upstream || !/^https?:\/\/[^/]/.test(upstream) || !/^\d+$/.test(port)) {
  console.error(USAGE);
  process.exit(2);
}
const server = createPushHelper({
  upstream,
  mode: chunks ? 'chunks' : 'direct',
  spool: !parts,
  chunkSize: Number(process.env.REGISTRY_PUSH_CHUNK_SIZE ?? DEFAULT_CHUNK_SIZE),
  partSize: Number(process.env.REGISTRY_PUSH_PART_SIZE ?? DEFAULT_PART_SIZE),
  partConcurrency: Number(process.env.REGISTRY_PUSH_PART_CONCURRENCY ?? DEFAULT_PART_CONCURRENCY),
  log: (line) => console.log(line),
});
server.requestTimeout = 0;
process.title = 'push-helper';
server.listen(Number(port), '127.0.0.1', () => {
  // Port 0 takes a free port: say which.
  const { port: listening } = server.address() as AddressInfo;
  console.log(
    `push helper on http://localhost:${listening}, relaying to ${upstream} (${chunks ? 'chunks' : 'direct'})`,
  );
});
