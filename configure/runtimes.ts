// What each runtime reads to use the agent as its mirror. The formats are the
// ones README's "Mirror configuration on the nodes" documents.
import type { ConfigureArgs } from './args.js'

export interface Planned {
  /** Relative to --root. */
  readonly file: string
  /** The new content, given what the file holds now (undefined: no file). */
  content(existing: string | undefined): string
  /** Printed after the write: what the operator still has to do or know. */
  readonly notes: readonly string[]
}

/** The agent's base URL as runtimes want it: no trailing slash. */
const agentBase = (a: ConfigureArgs) => `${a.agent.protocol}//${a.agent.host}`

const DOCKER_HUB = new Set(['docker.io', 'registry-1.docker.io', 'index.docker.io'])

function containerd(a: ConfigureArgs): Planned {
  const text = [
    `server = "${a.registryScheme}://${a.registry}"`,
    '',
    `[host."${agentBase(a)}"]`,
    '  capabilities = ["pull", "resolve"]',
    '',
  ].join('\n')
  return {
    file: `etc/containerd/certs.d/${a.registry}/hosts.toml`,
    content: () => text,
    notes: [
      'containerd reads it when its CRI plugin has config_path = "/etc/containerd/certs.d" (registry section of /etc/containerd/config.toml); restart containerd after setting that',
      `the agent must list ${a.registryScheme}://${a.registry} with --upstream`,
    ],
  }
}

function podman(a: ConfigureArgs): Planned {
  // A repository path cannot hold ':', so the agent reads `host_port` as the upstream's prefix (plugin/upstreams.ts).
  const prefix = a.registry.replace(':', '_')
  const lines = [
    '[[registry]]',
    `prefix = "${a.registry}"`,
    `location = "${a.registry}"`,
    ...(a.registryScheme === 'http' ? ['insecure = true'] : []),
    '',
    '[[registry.mirror]]',
    `location = "${a.agent.host}/${prefix}"`,
    ...(a.agent.protocol === 'http:' ? ['insecure = true'] : []),
    '',
  ]
  return {
    file: `etc/containers/registries.conf.d/layerseed-${prefix}.conf`,
    content: () => lines.join('\n'),
    notes: [
      'podman, CRI-O and skopeo read registries.conf.d at every start; restart CRI-O to apply',
      `the agent must list ${a.registryScheme}://${a.registry} with --upstream`,
    ],
  }
}

function docker(a: ConfigureArgs): Planned {
  const mirror = agentBase(a)
  return {
    file: 'etc/docker/daemon.json',
    content(existing) {
      let doc: unknown = {}
      if (existing !== undefined && existing.trim() !== '') {
        try {
          doc = JSON.parse(existing)
        } catch (err) {
          throw new Error(`etc/docker/daemon.json under --root is not JSON (${(err as Error).message}); fix it first, it was left alone`)
        }
      }
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('etc/docker/daemon.json under --root is not a JSON object; it was left alone')
      const current: unknown = (doc as Record<string, unknown>)['registry-mirrors']
      const mirrors = Array.isArray(current) ? current.filter((m): m is string => typeof m === 'string') : []
      if (!mirrors.includes(mirror)) mirrors.push(mirror)
      return `${JSON.stringify({ ...doc, 'registry-mirrors': mirrors }, null, 2)}\n`
    },
    notes: [
      'docker uses registry-mirrors for Docker Hub images only: the agent needs --upstream https://registry-1.docker.io',
      ...(DOCKER_HUB.has(a.registry) ? [] : [`pulls from ${a.registry} do not go through it; with docker's containerd image store, put the hosts.toml of 'layerseed configure containerd' under /etc/docker/certs.d/ instead`]),
      'restart dockerd to apply',
    ],
  }
}

export function plan(a: ConfigureArgs): Planned {
  switch (a.runtime) {
    case 'containerd':
      return containerd(a)
    case 'podman':
      return podman(a)
    case 'docker':
      return docker(a)
  }
}
