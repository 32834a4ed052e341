/**
 * The image map: which container images the local job runner can run, and as what host command.
 *
 * Kubernetes' rules for a container's argv are kept: `command` replaces the image's ENTRYPOINT and
 * `args` its CMD. Locally an image is a rule: its `entrypoint` (a host argv standing for the
 * image's ENTRYPOINT), optional default `cmd`, and `executables` that map in-image programs named
 * by `command[0]` (by full path or base name) to host argvs. A `command[0]` with no mapping is
 * not in the image: it fails as a missing executable does (StartError), unless the rule says
 * `commandsFromHost` (test images such as a local busybox), when it runs as found on the host
 * PATH. An image no rule matches cannot be pulled: its Pod waits in ErrImagePull, then
 * ImagePullBackOff, as on a node (pod-run.ts).
 *
 * The default map has one rule: an image whose repository's last segment is `cairn-agent` (e.g.
 * `ghcr.io/cairn-dev/cairn-agent:0.1.0`) runs `<this node> <repo>/agent/dist/main.js` (the bundle of
 * `npm run build:agent`, as the image does) when that bundle is newer than every agent/ and shared/
 * source, else `<this node> --import tsx <repo>/agent/main.ts`; the `cairn-agent` executable maps
 * to the same, and nothing else runs: a Job cannot use the agent's name to run a host command.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { execNotFound } from './process.ts';

export interface ImageRule {
  /**
   * A string matches when the image's repository (without registry port, tag or digest) is it or
   * ends with `/` and it; a RegExp is tested on the whole image reference; a function decides.
   */
  match: string | RegExp | ((image: string) => boolean);
  /** Whether a `command[0]` the image does not map runs from the host PATH (default: it is not found). */
  commandsFromHost?: boolean;
  /** The image's ENTRYPOINT as a host argv (used when the container sets no `command`). */
  entrypoint?: string[];
  /** The image's CMD (used when the container sets neither `command` nor `args`). */
  cmd?: string[];
  /** In-image executables → host argv, for `command[0]`. */
  executables?: Record<string, string[]>;
  /** Extra env, as the image's ENV (the pod's env wins). */
  env?: Record<string, string>;
  /** Working directory when the container sets no `workingDir`. */
  cwd?: string;
}

/** The repository part of an image reference: `ghcr.io/a/b:1@sha256:…` → `ghcr.io/a/b`. */
export function imageRepository(image: string): string {
  const noDigest = image.split('@')[0]!;
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
}

export function ruleMatches(rule: ImageRule, image: string): boolean {
  if (typeof rule.match === 'string') {
    const repo = imageRepository(image);
    return repo === rule.match || repo.endsWith(`/${rule.match}`);
  }
  if (rule.match instanceof RegExp) return rule.match.test(image);
  return rule.match(image);
}

/** The default map: Cairn's agent image runs the agent from this checkout. */
export function defaultImageRules(repoRoot: string): ImageRule[] {
  const bundle = freshAgentBundle(repoRoot);
  // tsx's loader by URL, so the agent starts whatever its working directory.
  const agent = bundle
    ? [process.execPath, bundle]
    : [process.execPath, '--import', import.meta.resolve('tsx'), join(repoRoot, 'agent', 'main.ts')];
  return [
    {
      match: 'cairn-agent',
      entrypoint: agent,
      executables: { 'cairn-agent': agent },
      cwd: repoRoot,
    },
  ];
}

/** The agent bundle, if it exists and no agent/ or shared/ source changed after it was built. */
export function freshAgentBundle(repoRoot: string): string | undefined {
  const bundle = join(repoRoot, 'agent', 'dist', 'main.js');
  let built: number;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    return undefined;
  }
  for (const dir of ['agent', 'shared']) {
    for (const f of readdirSync(join(repoRoot, dir), { recursive: true, encoding: 'utf8' })) {
      if (f.endsWith('.ts') && !f.startsWith('dist') && statSync(join(repoRoot, dir, f)).mtimeMs > built)
        return undefined;
    }
  }
  return bundle;
}

export interface ContainerCommand {
  image?: string;
  command?: string[];
  args?: string[];
}

export type ResolvedCommand =
  | {
      ok: true;
      argv: string[];
      /**
       * How many leading argv elements are host paths from the image map (the entrypoint or a mapped
       * executable): those are never rewritten as container paths, even when the checkout itself
       * lives under a mount path such as /tmp.
       */
      hostPrefix: number;
      env: Record<string, string>;
      cwd: string | undefined;
    }
  | { ok: false; reason: string; message: string };

/**
 * Why an image cannot be pulled (it is in no rule), as the container runtime's pull error reads;
 * undefined when it can.
 */
export function pullError(image: string, rules: readonly ImageRule[]): string | undefined {
  if (rules.some((r) => ruleMatches(r, image))) return undefined;
  return `failed to pull and unpack image "${image}": no such image in the local job runner's image map`;
}

/** The host argv of a container, or why it cannot run here. */
export function resolveCommand(c: ContainerCommand, rules: readonly ImageRule[]): ResolvedCommand {
  const image = c.image ?? '';
  const rule = rules.find((r) => ruleMatches(r, image));
  if (!rule) return { ok: false, reason: 'ErrImagePull', message: pullError(image, rules) ?? '' };
  let argv: string[];
  let hostPrefix: number;
  if (c.command && c.command.length > 0) {
    const [exe, ...rest] = c.command as [string, ...string[]];
    const mapped = rule.executables?.[exe] ?? rule.executables?.[basename(exe)];
    if (!mapped && !rule.commandsFromHost)
      return { ok: false, reason: 'StartError', message: execNotFound(exe) };
    argv = [...(mapped ?? [exe]), ...rest, ...(c.args ?? [])];
    hostPrefix = mapped ? mapped.length : 1;
  } else {
    if (!rule.entrypoint || rule.entrypoint.length === 0) {
      return {
        ok: false,
        reason: 'CreateContainerError',
        message: `image "${image}" has no local entrypoint: the container must set command`,
      };
    }
    argv = [...rule.entrypoint, ...(c.args ?? rule.cmd ?? [])];
    hostPrefix = rule.entrypoint.length;
  }
  return { ok: true, argv, hostPrefix, env: { ...rule.env }, cwd: rule.cwd };
}
