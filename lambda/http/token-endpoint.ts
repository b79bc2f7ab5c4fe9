import { parseScopes } from '../core/auth/access';
import { TokenTooLargeError } from '../core/auth/jwt';
import { UnauthorizedError, UnsupportedError } from '../core/errors';
import type { IssuedToken, Principal } from '../core/services/auth-service';
import { decodeBasic } from './auth';
import { errorResponse } from './error-mapper';
import { log } from './log';
import type { RegistryRequest } from './request';
import { json, type HttpResponse } from './response';
import type { TokenServices } from './services';

/**
 * The token service: Docker's token endpoint (`GET /token` with Basic credentials or none) and its
 * OAuth2 form (`POST /token`, grant types `password` and `refresh_token`), as containerd, Docker
 * and the spec's other clients use them.
 * @see https://distribution.github.io/distribution/spec/auth/token/
 * @see https://distribution.github.io/distribution/spec/auth/oauth/
 */
export async function tokenEndpoint(req: RegistryRequest, services: TokenServices): Promise<HttpResponse> {
  const { auth } = services;
  if (req.rawPath !== '/token') return json(404, { errors: [{ code: 'UNSUPPORTED', message: 'not found' }] });
  if (auth.settings.mode !== 'token') {
    return json(404, { errors: [{ code: 'UNSUPPORTED', message: 'this registry does not issue tokens' }] });
  }
  try {
    if (req.method === 'GET') return await getToken(req, services);
    if (req.method === 'POST') return await postToken(req, services);
    // Through the error mapper, so that it is 405 with Allow and an OCI error body like any other.
    throw new UnsupportedError(`${req.method} is not supported here; allowed: GET, POST`, ['GET', 'POST']);
  } catch (err) {
    if (err instanceof UnauthorizedError) {
      const res = errorResponse(err, req.requestId, log);
      res.headers['WWW-Authenticate'] = `Basic realm="${auth.settings.service}", charset="UTF-8"`;
      return res;
    }
    if (err instanceof OAuthError) return json(400, { error: err.error, error_description: err.message });
    if (err instanceof TokenTooLargeError) return json(400, { error: 'invalid_scope', error_description: err.message });
    throw err;
  }
}

class OAuthError extends Error {
  constructor(
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

async function getToken(req: RegistryRequest, services: TokenServices): Promise<HttpResponse> {
  const { auth } = services;
  checkService(req.query.get('service'), services);
  const header = req.header('authorization') ?? '';
  const [scheme = '', credentials = ''] = header.trim().split(/\s+/, 2);
  let principal: Principal;
  if (scheme.toLowerCase() === 'basic' && credentials) {
    const { username, password } = decodeBasic(credentials);
    principal = await auth.signIn(username, password);
  } else if (header) {
    throw new UnauthorizedError('authentication required: the token service takes Basic credentials');
  } else {
    principal = auth.anonymous();
  }
  const offline = req.query.get('offline_token') === 'true';
  return answer(await auth.issue(principal, parseScopes(req.query.getAll('scope')), offline));
}

async function postToken(req: RegistryRequest, services: TokenServices): Promise<HttpResponse> {
  const { auth } = services;
  const contentType = (req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== 'application/x-www-form-urlencoded') {
    throw new OAuthError('invalid_request', 'POST /token takes an application/x-www-form-urlencoded form');
  }
  const form = new URLSearchParams(Buffer.from(req.body).toString('utf8'));
  checkService(form.get('service'), services);
  const scopes = parseScopes(form.getAll('scope'));
  switch (form.get('grant_type')) {
    case 'password': {
      const username = form.get('username');
      const password = form.get('password');
      // Missing is a malformed request; present but empty is a wrong user name (401, as any other).
      if (username === null || password === null) {
        throw new OAuthError('invalid_request', 'username and password are required');
      }
      const principal = await auth.signIn(username, password);
      return answer(await auth.issue(principal, scopes, form.get('access_type') === 'offline'), true);
    }
    case 'refresh_token': {
      const refresh = form.get('refresh_token');
      if (!refresh) throw new OAuthError('invalid_request', 'refresh_token is required');
      return answer(await auth.issue(await auth.refresh(refresh), scopes, false), true);
    }
    default:
      throw new OAuthError('unsupported_grant_type', 'grant_type must be password or refresh_token');
  }
}

function checkService(service: string | null, services: TokenServices): void {
  const expected = services.auth.settings.service;
  if (service !== null && service !== '' && service !== expected) {
    throw new OAuthError('invalid_request', `this token service issues tokens for service "${expected}" only`);
  }
}

function answer(issued: IssuedToken, oauth = false): HttpResponse {
  return json(
    200,
    {
      ...(oauth ? {} : { token: issued.token }),
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
      ...(issued.refreshToken ? { refresh_token: issued.refreshToken } : {}),
      ...(oauth ? { scope: issued.access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ') } : {}),
    },
    { 'Cache-Control': 'no-store' },
  );
}
