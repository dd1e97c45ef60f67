// `layerseed configure`: points a node's container runtime at its agent. It is
// run once per node by an operator or a provisioning tool, not by the agent.
import { ConfigureError, parseConfigureArgs } from './args.js'
import { writeUnder } from './files.js'
import { plan } from './runtimes.js'

export const configureHelp = `Usage: layerseed configure containerd|podman|docker --registry HOST[:PORT] --agent URL [--root DIR]

Writes the runtime's mirror configuration so that pulls from the registry go through the agent:
  containerd  <root>/etc/containerd/certs.d/<HOST[:PORT]>/hosts.toml
  podman      <root>/etc/containers/registries.conf.d/layerseed-<HOST[_PORT]>.conf (also CRI-O, skopeo, buildah)
  docker      <root>/etc/docker/daemon.json "registry-mirrors", merged into the file's other keys
              (docker mirrors Docker Hub only)

Options:
  --registry HOST[:PORT]  the registry as image references name it; prefix http:// if it speaks plain HTTP (default https)
  --agent URL             the agent's address on this node, e.g. http://127.0.0.1:65001
  --root DIR              write under DIR instead of / (an image being built, a test) (default: /)
  --help                  show this help

A file that is replaced is kept as <file>.bak-<time>; nothing is written outside --root.`

/** Returns the exit code: 2 for a bad argument, 1 when the write failed. */
export async function runConfigure(argv: readonly string[], now = new Date()): Promise<number> {
  try {
    const args = parseConfigureArgs(argv)
    const planned = plan(args)
    const written = await writeUnder(args.root, planned.file, (existing) => planned.content(existing), now)
    const lines = [
      written.unchanged ? `unchanged ${written.path}` : `wrote ${written.path}`,
      ...(written.backup ? [`kept the old file as ${written.backup}`] : []),
      ...planned.notes.map((n) => `note: ${n}`),
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
    return 0
  } catch (err) {
    if (err instanceof ConfigureError) {
      process.stderr.write(`layerseed configure: ${err.message}\nRun 'layerseed configure --help' for the usage.\n`)
      return 2
    }
    process.stderr.write(`layerseed configure: ${(err as Error).message}\n`)
    return 1
  }
}
