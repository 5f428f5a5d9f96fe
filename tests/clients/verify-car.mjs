// A real IPFS client reads depot's CAR export of a file and checks it the way
// a trustless gateway's client does, then computes the file's CID on its own:
//
//   node verify-car.mjs BASE_URL TOKEN CID SIZE
//
// The file's byte i must be i % 251 (as in tests/data/cid). Every block's
// bytes must hash to its CID, the blocks must form the UnixFS file under the
// root, the file read back through ipfs-unixfs-exporter must be the original
// bytes, and ipfs-unixfs-importer (kubo's defaults: 256 KiB chunks, raw leaves,
// balanced DAG of 174 links, CIDv1) must give the same root. Exits non-zero
// with a message on the first difference.
import { CarBlockIterator } from '@ipld/car'
import { MemoryBlockstore } from 'blockstore-core'
import { exporter } from 'ipfs-unixfs-exporter'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'multiformats/bytes'

const [baseUrl, token, cidText, sizeText] = process.argv.slice(2)
const size = Number(sizeText)
const expected = new Uint8Array(size)
for (let i = 0; i < size; i++) expected[i] = i % 251

function fail (message) {
  console.error(`verify-car: ${message}`)
  process.exit(1)
}

const response = await fetch(`${baseUrl}/ipfs/${cidText}`, {
  headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.ipld.car' }
})
if (response.status !== 200) fail(`GET /ipfs/${cidText} answered ${response.status}`)
if (!response.headers.get('content-type').startsWith('application/vnd.ipld.car')) fail('not a CAR')

const blocks = await CarBlockIterator.fromIterable(response.body)
const roots = await blocks.getRoots()
const root = CID.parse(cidText)
if (roots.length !== 1 || !roots[0].equals(root)) fail(`CAR roots ${roots} are not [${root}]`)

const blockstore = new MemoryBlockstore()
let count = 0
for await (const { cid, bytes } of blocks) {
  const digest = await sha256.digest(bytes)
  if (!equals(digest.digest, cid.multihash.digest)) fail(`block ${cid} does not hash to its CID`)
  await blockstore.put(cid, bytes)
  count++
}

const entry = await exporter(root, blockstore)
if (entry.type !== 'file') fail(`the root is a ${entry.type}, not a file`)
const chunks = []
for await (const chunk of entry.content()) chunks.push(chunk)
const content = Buffer.concat(chunks)
if (!equals(new Uint8Array(content), expected)) fail(`the exported file differs from the uploaded bytes (${content.length} of ${size} bytes)`)

const imported = []
for await (const file of importer([{ content: expected }], new MemoryBlockstore(), {
  cidVersion: 1,
  rawLeaves: true,
  chunker: fixedSize({ chunkSize: 262144 }),
  layout: balanced({ maxChildrenPerNode: 174 }),
  reduceSingleLeafToSelf: true
})) imported.push(file)
const own = imported[imported.length - 1].cid
if (!own.equals(root)) fail(`ipfs-unixfs-importer gives ${own}, depot gave ${root}`)

console.log(`verify-car: ${count} blocks verified, ${size} bytes exported, root ${root} matches`)
