// A plain bittorrent-tracker for the `bittorrent` baseline: what a user gets
// from BitTorrent alone, with none of layerseed's tracker rules.
import Server from 'bittorrent-tracker/server'

const [host = '0.0.0.0', port = '6969'] = process.argv.slice(2)
const server = new Server({ udp: false, ws: false, stats: false, http: true, interval: 5000 }) as Server & {
  listen(port: number, host: string, cb: () => void): void
}
server.listen(Number(port), host, () => process.stdout.write(`tracker on ${host}:${port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
