import { createHash } from 'node:crypto';
import type { StorageView } from '../uploads';
import { judge } from './oracle';
import { isWrite, REFRESH_TOKEN, SESSION_DIGEST, type FuzzCase, type RangeChoice, type World } from './requests';
import { refusedWriteChanges, snapshot, type Snapshot } from './storage';
import { send, type WireRequest, type WireResponse } from './wire';

/** Credentials fetched at setup, by what the cases call them (token mode only). */
export interface Credentials {
  readonly user: string;
  readonly narrow: string;
  readonly admin: string;
  readonly anonymous: string;
  readonly refresh: string;
}

export interface Finding {
  readonly index: number;
  readonly label: string;
  readonly request: string;
  readonly status: number;
  readonly body: string;
  readonly problems: readonly string[];
}

export interface RunResult {
  readonly requests: number;
  /** `<status>` and `<status> <code>` → count. */
  readonly histogram: Map<string, number>;
  readonly findings: Finding[];
  readonly milliseconds: number;
}

interface LiveSession {
  readonly name: string;
  readonly id: string;
  /** What the session holds, as far as the fuzz knows (undefined once it cannot know). */
  content: Buffer | undefined;
  size: number;
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Sends cases one after the other (so that a seed replays the same run), judges every answer, and
 * checks that writes the registry refused left its storage as it was.
 */
export class FuzzRunner {
  private readonly live = new Map<string, LiveSession[]>();
  private readonly finished: string[] = [];
  private current: Snapshot | undefined;
  private requests = 0;
  private readonly histogram = new Map<string, number>();
  private readonly findings: Finding[] = [];
  /** Label → status → count, printed with FUZZ_VERBOSE=1 to see what each kind of case got. */
  readonly outcomes = new Map<string, Map<string, number>>();

  constructor(
    private readonly url: string,
    private readonly world: World,
    private readonly storage: StorageView,
    private readonly credentials?: Credentials,
  ) {}

  async run(cases: readonly FuzzCase[]): Promise<RunResult> {
    const started = Date.now();
    for (const [index, c] of cases.entries()) await this.one(index, c);
    return {
      requests: this.requests,
      histogram: this.histogram,
      findings: this.findings,
      milliseconds: Date.now() - started,
    };
  }

  private async one(index: number, c: FuzzCase): Promise<void> {
    const session = c.endpoint === 'upload' ? await this.session(c) : undefined;
    const wire = this.wire(c, session);
    const write = isWrite(c);
    if (write && !this.current) this.current = await snapshot(this.storage);
    let res: WireResponse;
    try {
      res = await send(this.url, wire);
    } catch (err) {
      this.requests++;
      this.count('no answer');
      this.findings.push(finding(index, c, wire, 0, '', [`no answer: ${String(err)}`]));
      this.current = undefined;
      return;
    }
    this.requests++;
    const verdict = judge(c, res, this.world.mode);
    const outcome = this.outcomes.get(c.label) ?? new Map<string, number>();
    outcome.set(verdict.key, (outcome.get(verdict.key) ?? 0) + 1);
    this.outcomes.set(c.label, outcome);
    this.count(String(res.status));
    if (verdict.code) this.count(verdict.key);
    const problems = [...verdict.problems];
    if (session && c.method === 'PATCH' && res.status === 202) {
      const held = sizeOf(res);
      const expected = session.size + (c.body?.length ?? 0);
      // A chunk moves the session end by exactly its length: anything else means other bytes were kept.
      if (c.body && c.body.length > 0 && held !== undefined && !held.includes(expected)) {
        problems.push(
          `a ${c.body.length}-byte chunk moved the session from ${session.size} to ${held.join(' or ')} bytes`,
        );
      }
    }
    if (write) {
      if (res.status >= 400 && res.status < 500) {
        const after = await snapshot(this.storage);
        const changes = refusedWriteChanges(this.current as Snapshot, after);
        if (changes.length) problems.push(`refused write changed storage: ${changes.slice(0, 5).join('; ')}`);
        this.current = after;
      } else {
        this.current = undefined;
      }
    }
    this.track(c, session, res);
    if (problems.length) {
      this.findings.push(finding(index, c, wire, res.status, res.body.toString('utf8').slice(0, 300), problems));
    }
  }

  private count(key: string): void {
    this.histogram.set(key, (this.histogram.get(key) ?? 0) + 1);
  }

  /** The session a case names: a live one of its repository (opened now if there is none), or not. */
  private async session(c: FuzzCase): Promise<LiveSession | undefined> {
    const name = c.name?.path ?? '';
    if (c.session === 'own' && c.name?.valid) {
      const mine = this.live.get(name);
      if (mine?.length) return mine[mine.length - 1];
      return this.open(name);
    }
    if (c.session === 'foreign') {
      const other = [...this.live.entries()].find(([n, list]) => n !== name && list.length > 0);
      if (other) return other[1][other[1].length - 1];
    }
    return undefined;
  }

  /** Opens a session as a setup step, judged and counted like any request. */
  private async open(name: string): Promise<LiveSession | undefined> {
    const c: FuzzCase = {
      label: 'POST upload-start (setup)',
      endpoint: 'upload-start',
      method: 'POST',
      name: { path: name, valid: true, kind: 'known' },
      tail: '/blobs/uploads/',
      query: [],
      headers: [],
      auth: { kind: 'admin-token' },
    };
    const wire = this.wire(c, undefined);
    const res = await send(this.url, wire);
    this.requests++;
    this.current = undefined;
    const verdict = judge(c, res, this.world.mode);
    this.count(String(res.status));
    if (verdict.code) this.count(verdict.key);
    if (verdict.problems.length) {
      this.findings.push(finding(-1, c, wire, res.status, res.body.toString('utf8').slice(0, 300), verdict.problems));
    }
    return this.track(c, undefined, res);
  }

  /** Keeps the pool of live sessions in step with what the registry answered. */
  private track(c: FuzzCase, session: LiveSession | undefined, res: WireResponse): LiveSession | undefined {
    const location = typeof res.headers.location === 'string' ? res.headers.location : undefined;
    if (c.endpoint === 'upload-start' && res.status === 202 && location && c.name) {
      const id = location.split('/').pop() as string;
      const opened: LiveSession = { name: c.name.path, id, content: Buffer.alloc(0), size: 0 };
      this.live.set(c.name.path, [...(this.live.get(c.name.path) ?? []), opened]);
      return opened;
    }
    if (!session) return undefined;
    const drop = () => {
      const list = this.live.get(session.name) ?? [];
      this.live.set(
        session.name,
        list.filter((s) => s !== session),
      );
      this.finished.push(session.id);
    };
    if (c.method === 'PATCH' && (res.status === 202 || res.status === 416)) {
      const held = sizeOf(res) ?? [session.size];
      const appended = session.size + (c.body?.length ?? 0);
      if (res.status === 202 && held.includes(appended)) {
        if (session.content) session.content = Buffer.concat([session.content, c.body ?? Buffer.alloc(0)]);
        session.size = appended;
      } else if (!held.includes(session.size)) {
        session.content = undefined;
        session.size = held[held.length - 1] as number;
      }
    }
    if (c.method === 'POST' && res.status === 200) session.content = undefined;
    if ((c.method === 'PUT' || c.method === 'DELETE') && (res.status < 300 || res.status === 404)) drop();
    if (c.method === 'PUT' && res.status === 400) drop();
    return session;
  }

  /** The request on the wire: path, query, headers and credentials resolved against the run's state. */
  private wire(c: FuzzCase, session: LiveSession | undefined): WireRequest {
    let path: string;
    if (c.endpoint === 'unknown' || c.endpoint === 'token' || c.endpoint === 'base' || c.endpoint === 'catalog') {
      path = c.tail;
    } else if (c.endpoint === 'upload') {
      const id =
        session?.id ??
        (c.session === 'finished' && this.finished.length
          ? (this.finished[this.finished.length - 1] as string)
          : undefined) ??
        c.sessionFallback ??
        'none';
      path = `/v2/${c.name?.path}/blobs/uploads/${id}`;
    } else {
      path = `/v2/${c.name?.path}${c.tail}`;
    }
    const query = c.query.map(([k, v]) => {
      if (v === SESSION_DIGEST) {
        const content = session?.content ? Buffer.concat([session.content, c.body ?? Buffer.alloc(0)]) : undefined;
        return `${k}=${content ? digestOf(content) : digestOf(Buffer.from('unknown content'))}`;
      }
      return v === undefined ? k : `${k}=${v}`;
    });
    if (query.length) path += `?${query.join('&')}`;
    const headers: (readonly [string, string])[] = [...c.headers];
    const authorization = this.authorization(c);
    if (authorization) headers.push(['Authorization', authorization]);
    const range = contentRange(c.range ?? 'none', session?.size ?? 0, c.body?.length ?? 0);
    if (range !== undefined) headers.push(['Content-Range', range]);
    let body = c.body;
    // The form's stand-in for the refresh token, as URLSearchParams encoded it.
    const placeholder = encodeURIComponent(REFRESH_TOKEN);
    if (body && this.credentials && body.includes(placeholder)) {
      const real = encodeURIComponent(this.credentials.refresh);
      body = Buffer.from(body.toString('latin1').replace(placeholder, real), 'latin1');
    }
    return { method: c.method, path, headers, ...(body ? { body } : {}), ...(c.chunked ? { chunked: true } : {}) };
  }

  private authorization(c: FuzzCase): string | undefined {
    const { auth } = c;
    if (auth.kind === 'header') return auth.value;
    if (!this.credentials || auth.kind === 'none') return undefined;
    const token = {
      'user-token': this.credentials.user,
      'narrow-token': this.credentials.narrow,
      'admin-token': this.credentials.admin,
      'anonymous-token': this.credentials.anonymous,
    }[auth.kind];
    return `Bearer ${token}`;
  }
}

/**
 * The sizes a session may hold, from the `Range` of an answer: `0-<end>` is `end + 1` bytes, except
 * that `0-0` also stands for none (the spec's Range has no way to say "empty").
 */
function sizeOf(res: WireResponse): number[] | undefined {
  const end = Number(String(res.headers.range ?? '').split('-')[1]);
  if (!Number.isFinite(end)) return undefined;
  return end === 0 ? [0, 1] : [end + 1];
}

/** The Content-Range a choice stands for, given where the session ends and the chunk's length. */
function contentRange(choice: RangeChoice, size: number, length: number): string | undefined {
  if (typeof choice === 'object') return choice.raw;
  const end = size + length - 1;
  switch (choice) {
    case 'none':
      return undefined;
    case 'correct':
      return `${size}-${end}`;
    case 'bytes-prefix':
      return `bytes=${size}-${end}`;
    case 'with-total':
      return `${size}-${end}/*`;
    case 'from-zero':
      return `0-${Math.max(length - 1, 0)}`;
    case 'gap':
      return `${size + 5}-${end + 5}`;
    case 'overlap':
      return size > 0 ? `${size - 1}-${end - 1}` : `1-${length}`;
    case 'reversed':
      return length > 1 ? `${end}-${size}` : '5-1';
    case 'length-mismatch':
      return `${size}-${end + 1}`;
    case 'huge':
      return '99999999999999999999-99999999999999999999';
    case 'empty':
      return '';
  }
}

function finding(
  index: number,
  c: FuzzCase,
  wire: WireRequest,
  status: number,
  body: string,
  problems: string[],
): Finding {
  const headers = wire.headers
    .map(([k, v]) => `${k}: ${v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v}`)
    .join('; ');
  const path = wire.path.length > 200 ? `${wire.path.slice(0, 200)}…(${wire.path.length})` : wire.path;
  const sent = wire.body ? ` body ${wire.body.length} bytes${wire.chunked ? ' chunked' : ''}` : '';
  return { index, label: c.label, request: `${wire.method} ${path} [${headers}]${sent}`, status, body, problems };
}

/** The histogram as lines, statuses first, each followed by its codes. */
export function formatHistogram(histogram: ReadonlyMap<string, number>): string {
  const keys = [...histogram.keys()].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return keys.map((k) => `${k.includes(' ') ? '    ' : '  '}${k.padEnd(30)} ${histogram.get(k)}`).join('\n');
}
