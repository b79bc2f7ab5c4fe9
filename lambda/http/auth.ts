import { ALLOW_ALL, CATALOG, formatScope, grantFromRules, type AccessEntry, type Grant } from '../core/auth/access';
import { DeniedError, UnauthorizedError } from '../core/errors';
import type { OciRoute } from '../core/paths';
import type { RegistryRequest } from './request';
import type { AccessServices } from './services';

/** What a route needs: an action on a resource, or only a signed-in caller (the base endpoint). */
type Need = { readonly entry: AccessEntry; readonly action: string } | 'signed-in';

/** What `authorize` returns: what the caller holds, and who they are when they said so. */
export interface AuthorizedGrant extends Grant {
  /** The token's subject or the Basic user name; absent for anonymous callers and with auth off. */
  readonly actor?: string;
}

function withActor(grant: Grant, actor: string): AuthorizedGrant {
  const { mentions } = grant;
  return {
    allows: (entry, action) => grant.allows(entry, action),
    ...(mentions ? { mentions: (entry: AccessEntry) => mentions.call(grant, entry) } : {}),
    actor,
  };
}

const repo = (name: string, actions: string[]): AccessEntry => ({ type: 'repository', name, actions });

/**
 * The access each endpoint needs, by method as in the reference registry: reads need pull, writes
 * push, deletes delete. Reading an upload's status is a read; cancelling one is part of pushing.
 */
function needOf(route: OciRoute | undefined, method: string): Need | undefined {
  if (!route) return undefined;
  if (route.kind === 'base') return 'signed-in';
  if (route.kind === 'catalog') return { entry: CATALOG, action: '*' };
  const upload = route.kind === 'upload-start' || route.kind === 'upload';
  if (method === 'GET' || method === 'HEAD') return { entry: repo(route.name, ['pull']), action: 'pull' };
  if (method === 'DELETE' && !upload) return { entry: repo(route.name, ['delete']), action: 'delete' };
  return { entry: repo(route.name, ['pull', 'push']), action: 'push' };
}

/**
 * Checks a request against what its route needs and returns what the caller holds (for decisions
 * inside the endpoint, such as whether a cross-repository mount may read its source). No
 * credentials where some are needed: 401 with a challenge naming the scope; valid credentials that
 * fall short: 403 DENIED.
 */
export async function authorize(
  req: RegistryRequest,
  route: OciRoute | undefined,
  services: AccessServices,
): Promise<AuthorizedGrant> {
  const { auth } = services;
  const { mode } = auth.settings;
  if (mode === 'none') return grantFromRules(ALLOW_ALL);
  const need = needOf(route, req.method);
  const challenge = (error?: string) =>
    mode === 'basic'
      ? `Basic realm="${auth.settings.service}", charset="UTF-8"`
      : [
          `Bearer realm="${origin(req, services)}${services.pathPrefix ?? ''}/token"`,
          `service="${auth.settings.service}"`,
          ...(need && need !== 'signed-in' ? [`scope="${challengeScopes(req, need.entry)}"`] : []),
          ...(error ? [`error="${error}"`] : []),
        ].join(',');
  const header = req.header('authorization') ?? '';
  const [scheme = '', credentials = ''] = header.trim().split(/\s+/, 2);
  let grant: Grant;
  /** Holds valid credentials (an anonymous token counts for `/v2/`). */
  let signedIn = false;
  /** A user is known: falling short is then 403, not a prompt to sign in. */
  let identified = false;
  /** The user it is, for registry events. */
  let actor: string | undefined;
  try {
    if (mode === 'token' && scheme.toLowerCase() === 'bearer' && credentials) {
      const token = await auth.grantOfToken(credentials);
      grant = token.grant;
      signedIn = true;
      identified = token.subject !== '';
      actor = token.subject || undefined;
    } else if (mode === 'basic' && scheme.toLowerCase() === 'basic' && credentials) {
      const { username, password } = decodeBasic(credentials);
      grant = auth.grantOfPrincipal(await auth.signIn(username, password, { cache: true }));
      signedIn = true;
      identified = true;
      actor = username;
    } else {
      grant = auth.grantOfPrincipal(auth.anonymous());
    }
  } catch (err) {
    if (err instanceof UnauthorizedError) throw new UnauthorizedError(err.message, challenge('invalid_token'));
    throw err;
  }
  const allowed = need === undefined || (need === 'signed-in' ? signedIn : grant.allows(need.entry, need.action));
  const source = mountSource(req);
  if (allowed && source && grant.mentions && !grant.mentions(source) && !grant.allows(source, 'pull')) {
    // A token asked for without the mount's source: let the client ask again with it (clients that
    // cache tokens per repository do this); a token that names the source without pull falls back.
    throw new UnauthorizedError('this mount needs pull on its source repository', challenge('insufficient_scope'));
  }
  if (allowed) return actor ? withActor(grant, actor) : grant;
  if (!identified) {
    // Anonymous callers, with or without an anonymous token, are asked to sign in.
    throw new UnauthorizedError('authentication required', challenge(signedIn ? 'insufficient_scope' : undefined));
  }
  throw new DeniedError(
    need === 'signed-in'
      ? 'requested access to the resource is denied'
      : `requested access to ${formatScope({ ...need.entry, actions: [need.action] })} is denied`,
  );
}

/**
 * The scopes a challenge names: the route's, and for a cross-repository mount also pull on its
 * source, so that a client following the challenge can ask for both (the token service grants only
 * what the user may do; without pull on the source the mount becomes an ordinary upload).
 */
function challengeScopes(req: RegistryRequest, entry: AccessEntry): string {
  const source = mountSource(req);
  return [entry, ...(source && source.name !== entry.name ? [source] : [])].map(formatScope).join(' ');
}

/** Pull on the source repository of a cross-repository mount (`POST …/uploads/?mount=&from=`). */
function mountSource(req: RegistryRequest): AccessEntry | undefined {
  const from = req.method === 'POST' && req.query.get('mount') ? req.query.get('from') : null;
  return from ? repo(from, ['pull']) : undefined;
}

/** The registry's public origin: configured, or the one the request came to. */
export function origin(req: RegistryRequest, services: Pick<AccessServices, 'publicUrl'>): string {
  if (services.publicUrl) return services.publicUrl;
  const proto = (req.header('x-forwarded-proto') ?? 'https').split(',')[0]!.trim();
  return `${proto}://${req.header('host') ?? 'localhost'}`;
}

/** `user:password` from a Basic credential; malformed ones are refused as unauthenticated. */
export function decodeBasic(credentials: string): { username: string; password: string } {
  const text = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) throw new UnauthorizedError('authentication required: malformed Basic credentials');
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
