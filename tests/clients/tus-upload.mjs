// Uploads a file to depot with tus-js-client, retrying (and so resuming)
// after network failures as the library does by default. Prints the upload
// URL and how many times it had to retry.
//
//   node tus-upload.mjs <endpoint> <token> <path> <file name>
//
// TUS_CHUNK_SIZE (bytes) splits the upload into requests of that size, and
// TUS_DATA_DURING_CREATION=1 sends the first one with the creation request.
import fs from 'node:fs';
import * as tus from 'tus-js-client';

const [endpoint, token, path, name] = process.argv.slice(2);
let retries = 0;
const upload = new tus.Upload(fs.readFileSync(path), {
  endpoint,
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: name, description: 'sent by tus-js-client' },
  retryDelays: [0, 250, 500, 1000, 2000],
  chunkSize: Number(process.env.TUS_CHUNK_SIZE) || Infinity,
  uploadDataDuringCreation: process.env.TUS_DATA_DURING_CREATION === '1',
  onShouldRetry(error) {
    retries += 1;
    // The library's own rule: not after a 4xx, but for 409 and 423.
    const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
    return !(status >= 400 && status < 500 && status !== 409 && status !== 423);
  },
  onError(error) {
    console.error(`upload failed: ${error}`);
    process.exit(1);
  },
  onSuccess() {
    console.log(JSON.stringify({ url: upload.url, retries }));
  },
});
upload.start();
