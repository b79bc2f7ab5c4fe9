import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { Code } from 'aws-cdk-lib/aws-lambda';

/**
 * Where the registry's code comes from at synth.
 *
 * In this repository (lib/ run as TypeScript) it is built from the sources: NodejsFunction bundles
 * each function with esbuild from `lambda/handlers/<handler>.ts`, and the uploader's image is built
 * by `lambda/uploader/Dockerfile` with the repository as its context (`npm ci` from the lockfile,
 * then esbuild).
 *
 * In the npm package neither could work: another CDK app has no lockfile of ours, need not have
 * esbuild, and has no lambda/ sources. So `npm pack` (build-package.ts) compiles lib/ to `dist/lib/`
 * and prebuilds, into `dist/bundles/`, each function's bundle (with NodejsFunction's esbuild
 * options) and the uploader's image context (the bundle its Dockerfile builds, and the Dockerfile's
 * final stage). The constructs take a prebuilt bundle wherever one sits beside the compiled lib/.
 */

/** The repository; in the npm package, its `dist/` (lib/ is compiled to `dist/lib/`). */
export const CODE_ROOT = join(__dirname, '..', '..');
/** Where the package's prebuilt bundles are, below CODE_ROOT: `<handler>/index.js`, `uploader/`. */
export const BUNDLES_DIR = 'bundles';
/** The uploader's image context among the prebuilt bundles. */
export const UPLOADER_BUNDLE = 'uploader';
/** The uploader's Dockerfile in the repository (which is its build context). */
export const UPLOADER_DOCKERFILE = 'lambda/uploader/Dockerfile';

/** A handler's TypeScript entry in the repository. */
export function sourceEntry(handler: string): string {
  return join(CODE_ROOT, 'lambda', 'handlers', `${handler}.ts`);
}

/**
 * In the npm package, a function's prebuilt bundle as NodejsFunction props: `code`, with which
 * NodejsFunction ignores `entry` and the bundling options. Nothing in the repository, where
 * NodejsFunction bundles `sourceEntry(handler)` at synth.
 */
export function prebuiltCode(handler: string): { code?: Code; handler?: string } {
  const bundle = join(CODE_ROOT, BUNDLES_DIR, handler);
  if (existsSync(join(bundle, 'index.js'))) return { code: Code.fromAsset(bundle), handler: 'index.handler' };
  if (existsSync(sourceEntry(handler))) return {};
  throw new Error(
    `The registry's ${handler} function has neither a prebuilt bundle (${bundle}/index.js) nor its source (${sourceEntry(handler)}); an npm package of the registry must be made by npm pack, whose prepack script builds the bundles`,
  );
}

/** The uploader's image: from the prebuilt context in the npm package, from the sources in the repository. */
export function uploaderImage(): ContainerImage {
  const platform = Platform.LINUX_ARM64;
  const prebuilt = join(CODE_ROOT, BUNDLES_DIR, UPLOADER_BUNDLE);
  if (existsSync(join(prebuilt, 'Dockerfile'))) return ContainerImage.fromAsset(prebuilt, { platform });
  if (!existsSync(join(CODE_ROOT, UPLOADER_DOCKERFILE))) {
    throw new Error(
      `The registry's uploader has neither a prebuilt image context (${prebuilt}) nor its Dockerfile (${join(CODE_ROOT, UPLOADER_DOCKERFILE)}); an npm package of the registry must be made by npm pack, whose prepack script builds the bundles`,
    );
  }
  // The whole repository is the build context; the root .dockerignore keeps it to the lockfile and
  // lambda/, so edits elsewhere neither grow the context nor change the image hash.
  return ContainerImage.fromAsset(CODE_ROOT, { file: UPLOADER_DOCKERFILE, platform });
}
