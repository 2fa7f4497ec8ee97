import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The two releases a rehearsal runs, built from git: each in its own worktree under
 * `.rehearsal/releases/` (git-ignored), installed once per lockfile and cached, so a second
 * rehearsal of the same commits starts in seconds.
 */

export interface Release {
  /** What was asked for: a ref, or "working tree". */
  label: string;
  commit: string;
  /** The fault patch applied on top, if any. */
  fault?: string;
  dir: string;
}

export class PrerequisiteError extends Error {
  override readonly name = 'PrerequisiteError';
}

async function git(repo: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await run('git', args, { cwd: repo, env: env ? { ...process.env, ...env } : process.env, maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new Error(`git ${args.join(' ')}: ${detail}`, { cause: error });
  }
}

/** A ref's commit; a clear refusal when it is not one. */
export async function resolveRef(repo: string, ref: string): Promise<string> {
  try {
    return await git(repo, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    throw new PrerequisiteError(`${ref} is not a commit in ${repo} (git rev-parse ${ref} found nothing)`);
  }
}

/**
 * The working tree as a commit (tracked changes and untracked files not ignored), without touching
 * the index, HEAD or any branch: a temporary index takes `git add -A`, and the tree becomes a
 * dangling commit whose parent is HEAD. The same tree always gives the same tree id, so the cache
 * holds.
 */
export async function workingTreeCommit(repo: string): Promise<string> {
  const head = await resolveRef(repo, 'HEAD');
  // Beside the real index in the git directory: outside the work tree `git add -A` reads.
  const gitDir = resolve(repo, await git(repo, ['rev-parse', '--git-dir']));
  const tmpIndex = join(gitDir, `rehearsal-index-${process.pid}`);
  try {
    const env = { GIT_INDEX_FILE: tmpIndex };
    // A fresh index from HEAD, not a copy of the real one: a copied index carries the real one's
    // stat data under a newer file time, so a file rewritten with the same size within the same
    // second looked unchanged to `git add` (git's "racy clean" check compares with the index file's
    // own time), and one working tree gave two commits. Entries without stat data are all hashed.
    await git(repo, ['read-tree', head], env);
    await git(repo, ['add', '-A', '--', '.'], env);
    const tree = await git(repo, ['write-tree'], env);
    const headTree = await git(repo, ['rev-parse', `${head}^{tree}`]);
    if (tree === headTree) return head;
    // A fixed author and date: the same tree and parent give the same commit id, run after run.
    return await git(repo, ['commit-tree', tree, '-p', head, '-m', 'rehearsal: working tree'], {
      GIT_AUTHOR_NAME: 'rehearsal', GIT_AUTHOR_EMAIL: 'rehearsal@localhost', GIT_AUTHOR_DATE: '2000-01-01T00:00:00Z',
      GIT_COMMITTER_NAME: 'rehearsal', GIT_COMMITTER_EMAIL: 'rehearsal@localhost', GIT_COMMITTER_DATE: '2000-01-01T00:00:00Z',
    });
  } finally {
    rmSync(tmpIndex, { force: true });
  }
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * node_modules for a lockfile: the repository's own when the lockfiles match (the usual case: the
 * rehearsal runs where `npm ci` already ran), else an `npm ci` into `.rehearsal/modules/<hash>/`,
 * once per lockfile.
 */
async function modulesFor(repo: string, dir: string, log: (line: string) => void): Promise<string> {
  const lock = readFileSync(join(dir, 'package-lock.json'));
  const hash = sha256(lock).slice(0, 16);
  const own = join(repo, 'package-lock.json');
  if (existsSync(join(repo, 'node_modules')) && existsSync(own) && sha256(readFileSync(own)).slice(0, 16) === hash) return join(repo, 'node_modules');
  const cache = join(repo, '.rehearsal', 'modules', hash);
  if (existsSync(join(cache, '.installed'))) return join(cache, 'node_modules');
  log(`installing dependencies for lockfile ${hash} (npm ci, once per lockfile)`);
  rmSync(cache, { recursive: true, force: true });
  mkdirSync(cache, { recursive: true });
  copyFileSync(join(dir, 'package.json'), join(cache, 'package.json'));
  copyFileSync(join(dir, 'package-lock.json'), join(cache, 'package-lock.json'));
  try {
    await run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: cache, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    throw new PrerequisiteError(`npm ci for lockfile ${hash} failed: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split('\n').slice(-3).join(' ')}`);
  }
  writeFileSync(join(cache, '.installed'), new Date().toISOString());
  return join(cache, 'node_modules');
}

/** Release worktrees kept: the last two releases with every fault of the catalogue fit. */
export const KEEP_RELEASES = 24;

/** Removes the least recently used release worktrees beyond `keep` (each is a git worktree: removed as one). */
export async function pruneReleases(repo: string, keep: number): Promise<string[]> {
  const root = join(repo, '.rehearsal', 'releases');
  if (!existsSync(root)) return [];
  const used = (dir: string) => {
    try {
      return statSync(join(root, dir, '.rehearsal-ready')).mtimeMs;
    } catch {
      return 0;
    }
  };
  const dirs = readdirSync(root).sort((a, b) => used(b) - used(a));
  const removed = dirs.slice(keep);
  for (const dir of removed) await git(repo, ['worktree', 'remove', '--force', join(root, dir)]).catch(() => rmSync(join(root, dir), { recursive: true, force: true }));
  if (removed.length > 0) await git(repo, ['worktree', 'prune']);
  return removed;
}

/**
 * A worktree of `commit` (plus a fault patch) ready to run: `.rehearsal/releases/<commit>[-<fault>]`.
 * Reused when it is already there and complete; rebuilt when an earlier build stopped half-way.
 */
export async function prepareRelease(repo: string, spec: { label: string; commit: string; fault?: { name: string; patch: string } }, log: (line: string) => void): Promise<Release> {
  const name = `${spec.commit.slice(0, 12)}${spec.fault ? `-${spec.fault.name}` : ''}`;
  const dir = join(repo, '.rehearsal', 'releases', name);
  const marker = join(dir, '.rehearsal-ready');
  const patchHash = spec.fault ? sha256(readFileSync(spec.fault.patch)) : '';
  const wanted = `${spec.commit} ${patchHash}`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === wanted) {
    // Touched on use: pruning keeps the releases used last.
    writeFileSync(marker, wanted);
    return { label: spec.label, commit: spec.commit, dir, ...(spec.fault ? { fault: spec.fault.name } : {}) };
  }
  await pruneReleases(repo, KEEP_RELEASES);

  if (existsSync(dir)) await git(repo, ['worktree', 'remove', '--force', dir]).catch(() => rmSync(dir, { recursive: true, force: true }));
  await git(repo, ['worktree', 'prune']);
  mkdirSync(join(repo, '.rehearsal', 'releases'), { recursive: true });
  log(`worktree ${name} (${spec.label})`);
  await git(repo, ['worktree', 'add', '--detach', '--force', dir, spec.commit]);
  if (spec.fault) {
    try {
      await git(dir, ['apply', '--whitespace=nowarn', spec.fault.patch]);
    } catch (error) {
      throw new PrerequisiteError(`fault ${spec.fault.name}: ${spec.fault.patch} does not apply to ${spec.commit.slice(0, 12)} (${(error as Error).message.split('\n')[0]}); regenerate the patch against this release`);
    }
  }
  symlinkSync(await modulesFor(repo, dir, log), join(dir, 'node_modules'), 'dir');
  writeFileSync(marker, wanted);
  return { label: spec.label, commit: spec.commit, dir, ...(spec.fault ? { fault: spec.fault.name } : {}) };
}
