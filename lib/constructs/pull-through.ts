import { Annotations, Stack, Token, type Duration } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '../../lambda/config/env';
import { pullThroughRuleProblem, type PullThroughRule } from '../../lambda/config/pull-through';
import type { StorageGrantee } from './storage';

/** One upstream registry served under a prefix of ours (docs/pull-through-cache.md). */
export interface PullThroughCacheRule {
  /**
   * The first component of the repository names this rule serves (`hub` serves `hub/library/nginx`
   * from the upstream's `library/nginx`), or `*` to mirror the upstream at the root of the name space
   * (the Docker daemon's `registry-mirrors`), for names no repository of ours has.
   */
  readonly prefix: string;
  /** The upstream registry's origin, `https://registry-1.docker.io` (or `http://host:port`). */
  readonly upstream: string;
  /**
   * A Secrets Manager secret whose `SecretString` is `{"username": …, "password": …}`, the upstream
   * credentials. The functions and the uploader that fetch may `secretsmanager:GetSecretValue` it,
   * nothing else (and `kms:Decrypt` through Secrets Manager when it has an `encryptionKey`).
   * @default - anonymous pulls
   */
  readonly credentials?: ISecret;
  /**
   * Upstream repository patterns that may be fetched (`library/*`); other names are
   * `404 NAME_UNKNOWN`, without a fetch.
   * @default - any
   */
  readonly allow?: string[];
  /**
   * How long a tag is served without asking the upstream (whole seconds, at most 31 days).
   * @default Duration.hours(1)
   */
  readonly tagTtl?: Duration;
}

/** A stand-in for an unresolved secret ARN while a rule is checked at synth (the rule's checks want an ARN's shape). */
const TOKEN_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:token-AbCdEf';

/**
 * The pull-through cache's configuration: the rules as the code reads them (`REGISTRY_PULL_THROUGH`,
 * lambda/config/pull-through.ts), checked at synth, and the grants that go with them. `bind` gives a
 * fetcher (the blobs and manifests functions, the uploader) the rules and the right to read each
 * rule's credentials, and nothing else; no other code gets either.
 */
export class RegistryPullThroughCache extends Construct {
  /** The rules, as written into `REGISTRY_PULL_THROUGH` (secret ARNs may be tokens). */
  readonly rules: readonly PullThroughRule[];
  private readonly secrets: readonly ISecret[];

  constructor(scope: Construct, id: string, rules: readonly PullThroughCacheRule[]) {
    super(scope, id);
    this.rules = rules.map((rule, i) => checkedRule(rule, i));
    const prefixes = new Set<string>();
    for (const [i, rule] of this.rules.entries()) {
      if (prefixes.has(rule.prefix)) {
        throw new Error(`pullThroughCache[${i}]: prefix ${rule.prefix} has a rule already (one rule per prefix)`);
      }
      prefixes.add(rule.prefix);
    }
    // One secret may serve several rules (one account on several upstreams); it is granted once.
    this.secrets = [
      ...new Map(
        rules.flatMap((r) => (r.credentials ? [[r.credentials.secretArn, r.credentials] as const] : [])),
      ).values(),
    ];
  }

  /**
   * TCP ports other than 443 that the upstreams listen on (`http://host:5000`: 5000, `http://host`:
   * 80), in ascending order: the uploader's tasks may leave their VPC on 443 only.
   */
  get upstreamPorts(): number[] {
    const ports = new Set<number>();
    for (const rule of this.rules) {
      const url = new URL(rule.upstream);
      const port = url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
      if (port !== 443) ports.add(port);
    }
    return [...ports].sort((a, b) => a - b);
  }

  /**
   * Code that fetches from the upstreams: the rules in `REGISTRY_PULL_THROUGH`, and
   * `secretsmanager:GetSecretValue` on exactly the rules' secrets. `DescribeSecret`, which
   * `ISecret.grantRead` adds, is not needed to read a value. A secret encrypted with a customer
   * managed key also needs `kms:Decrypt` on that key, which Secrets Manager calls on the caller's
   * behalf: granted only through Secrets Manager in this region (`kms:ViaService`) and only for this
   * secret (its ARN is in the encryption context Secrets Manager uses). A secret under the AWS managed
   * key `aws/secretsmanager` needs nothing more: that key's policy allows it through Secrets Manager.
   */
  bind(grantee: StorageGrantee): void {
    grantee.addEnvironment(ENV.pullThrough, Stack.of(this).toJsonString(this.rules));
    if (this.secrets.length === 0) return;
    grantee.addToRolePolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: this.secrets.map(policyArn),
      }),
    );
    const viaService = `secretsmanager.${Stack.of(this).region}.amazonaws.com`;
    for (const secret of this.secrets) {
      if (!secret.encryptionKey) continue;
      grantee.addToRolePolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [secret.encryptionKey.keyArn],
          conditions: secret.secretFullArn
            ? {
                StringEquals: { 'kms:ViaService': viaService, 'kms:EncryptionContext:SecretARN': secret.secretFullArn },
              }
            : {
                StringEquals: { 'kms:ViaService': viaService },
                StringLike: { 'kms:EncryptionContext:SecretARN': policyArn(secret) },
              },
        }),
      );
    }
  }

  /**
   * Code that only names the mirrors (the base function's `GET /` metadata document): the rules in
   * `REGISTRY_PULL_THROUGH`, and no right to read any credentials.
   */
  describeTo(grantee: Pick<StorageGrantee, 'addEnvironment'>): void {
    grantee.addEnvironment(ENV.pullThrough, Stack.of(this).toJsonString(this.rules));
  }

  /**
   * Says, at synth, what a pull-through cache without the upload data path cannot do: blobs over
   * 64 MiB are filled by the uploader only, and are answered 503 until it is on.
   */
  warnWithoutFillPath(): void {
    if (this.rules.length === 0) return;
    Annotations.of(this).addWarningV2(
      'serverless-oci-registry:pullThroughWithoutUploadDataPath',
      'pullThroughCache without uploadDataPath: blobs over 64 MiB cannot be filled from the upstream (a function answers within 30 s) and are answered 503 until the upload data path is on (uploadDataPath: true)',
    );
  }
}

/**
 * The secret's ARN in a policy: its full ARN when known; a secret known by a partial ARN (imported
 * by name) gets the six characters Secrets Manager appends as wildcards, as `ISecret.grantRead` does.
 */
function policyArn(secret: ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}

/** The rule as the code reads it, or a synth error naming the rule and what is wrong. */
function checkedRule(rule: PullThroughCacheRule, i: number): PullThroughRule {
  let tagTtlSeconds: number | undefined;
  try {
    tagTtlSeconds = rule.tagTtl?.toSeconds();
  } catch {
    throw new Error(`pullThroughCache[${i}]: tagTtl must be a whole number of seconds`);
  }
  const secretArn = rule.credentials?.secretArn;
  const out: PullThroughRule = {
    prefix: rule.prefix,
    upstream: typeof rule.upstream === 'string' ? rule.upstream.replace(/\/+$/, '') : rule.upstream,
    ...(rule.allow !== undefined ? { allow: rule.allow } : {}),
    ...(tagTtlSeconds !== undefined ? { tagTtlSeconds } : {}),
    ...(secretArn !== undefined ? { credentialsSecret: secretArn } : {}),
  };
  const problem = pullThroughRuleProblem({
    ...out,
    ...(secretArn !== undefined && Token.isUnresolved(secretArn) ? { credentialsSecret: TOKEN_ARN } : {}),
  });
  if (problem) throw new Error(`pullThroughCache[${i}]: ${problem}`);
  return out;
}
