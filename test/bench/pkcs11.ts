/**
 * Bench row `pkcs11-sign-ed25519`: our Pkcs11Signer's time per signature (C_SignInit + C_SignAsync
 * on a worker thread + the node:crypto verification of every signature) against a bare pkcs11js
 * C_SignInit + C_Sign on the same SoftHSM2 key in the same run, one signature each in turn.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { pinFromValue } from '../../server/signers/pin.js';
import { Pkcs11Signer } from '../../server/signers/pkcs11.js';
import { CK, closeModules, findObjects, openModule } from '../../server/signers/pkcs11-module.js';
import { compareRow, timeMs, type Row } from './stats.js';

const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const PIN = '246813579024';

export async function pkcs11SignRow(tmp: string, signatures: number): Promise<Row | string> {
  if (!existsSync(MODULE)) return 'SoftHSM2 is not installed';
  const dir = path.join(tmp, 'pkcs11');
  await fs.mkdir(path.join(dir, 'tokens'), { recursive: true });
  const conf = path.join(dir, 'softhsm2.conf');
  await fs.writeFile(conf, `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  await promisify(execFile)('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--so-pin', '11112222', '--pin', PIN], { env: { ...process.env, SOFTHSM2_CONF: conf } });
  process.env['SOFTHSM2_CONF'] = conf;
  try {
    const signer = await Pkcs11Signer.generate('pkcs11:token=bench;object=bench-ed25519', 'ed25519', { modulePath: MODULE, pin: pinFromValue(PIN) });
    // The baseline: its own session on the same key, plain synchronous pkcs11js calls.
    const mod = openModule(MODULE);
    const slot = mod.p11.C_GetSlotList(true).find((s) => mod.p11.C_GetTokenInfo(s).label.trim() === 'bench');
    if (!slot) return 'the bench token vanished';
    const session = mod.p11.C_OpenSession(slot, CK.CKF_SERIAL_SESSION);
    const [key] = findObjects(mod, session, [{ type: CK.CKA_CLASS, value: CK.CKO_PRIVATE_KEY }, { type: CK.CKA_LABEL, value: 'bench-ed25519' }]);
    if (!key) return 'the bench key vanished';
    const data = Buffer.alloc(1500, 7); // about the size of a root's canonical bytes
    const bare = (): void => {
      mod.p11.C_SignInit(session, { mechanism: CK.CKM_EDDSA }, key);
      mod.p11.C_Sign(session, data, Buffer.alloc(64));
    };
    const ours = (): Promise<Uint8Array> => signer.sign(data);
    for (let i = 0; i < 50; i++) {
      await ours();
      bare(); // warm-up
    }
    // One signature each, alternating which goes first, so load from other processes hits both alike.
    const o: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < signatures; i++) {
      if (i % 2 === 0) {
        o.push(await timeMs(ours));
        b.push(await timeMs(bare));
      } else {
        b.push(await timeMs(bare));
        o.push(await timeMs(ours));
      }
    }
    mod.p11.C_CloseSession(session);
    signer.close();
    return compareRow(
      'pkcs11-sign-ed25519',
      o,
      b,
      'ms',
      1.5,
      `median time per signature over ${signatures} signatures each, alternating one ours / one bare, on SoftHSM2; ours: Pkcs11Signer.sign (C_SignInit + C_SignAsync + node:crypto verify); baseline: bare pkcs11js C_SignInit + C_Sign`,
    );
  } finally {
    closeModules();
  }
}
