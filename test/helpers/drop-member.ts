// Preloaded into a CLI process (`node --import`) to stand for an upgrade that
// removed a member the patches rely on: LAYERSEED_DROP names it, as
// `Torrent.prototype.<name>`. Without it, this module does nothing.
import Torrent from 'webtorrent/lib/torrent.js'

const drop = process.env.LAYERSEED_DROP
const prefix = 'Torrent.prototype.'
if (drop?.startsWith(prefix)) delete (Torrent.prototype as Record<string, unknown>)[drop.slice(prefix.length)]
