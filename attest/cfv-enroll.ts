import {
  alignUp,
  cfvSection,
  FFS_FILE_ALIGNMENT,
  FFS_FIXED_FILE_CHECKSUM,
  FFS_HEADER,
  FFS_STATE_VALID,
  FFS_TYPE_RAW,
  FV_HEADER,
  FV_REVISION,
  FV_SIGNATURE,
  MIGTD_FILE_GUIDS,
  sum16,
  sum8,
} from "./firmware-volume.js";
import { guidToBytes } from "./guid.js";
import { hex, MeasureError } from "./measure-error.js";
import { PAGE_SIZE, parseTdMetadata } from "./td-metadata.js";

// The 120-byte block td-shim-enroll writes at the start of the CFV
// (td-shim td-shim-tools enroller.rs build_cfv_header, td-shim fv.rs
// FvHeader): the volume header, a two-entry block map, a pad file header
// and an extension header, with HeaderLength covering all of it.
const ENROLL_HEADER_SIZE = 0x78;
const FFS3_FILE_SYSTEM_GUID = "5473c07a-3dcb-4dca-bd6f-1e9689e7349a";
const FV_ATTRIBUTES = 0x0004f6ff;
const FV_EXT_HEADER_OFFSET = 0x60;
const BLOCK_MAP_OFFSET = 0x38;
const PAD_FILE_OFFSET = 0x48;
const PAD_FILE_TYPE = 0xf0;
const PAD_FILE_SIZE = 0x2c;
const EXT_HEADER_SIZE_OFFSET = 0x70;
const EXT_HEADER_SIZE = 0x14;

/** td-shim-enroll reads each enrolled file with a size limit of 1 to 1 MiB. */
export const MAX_ENROLLED_FILE_SIZE = 1024 * 1024;

export interface EnrolledFile {
  guid: string;
  data: Uint8Array;
}

/**
 * Returns a copy of the image whose CFV starts with a fresh firmware volume
 * holding these raw files, in order, byte for byte as td-shim-enroll writes
 * it. Bytes after the last file, in the CFV and elsewhere, are unchanged.
 */
export function enrollCfv(image: Uint8Array, files: EnrolledFile[]): Buffer {
  const metadata = parseTdMetadata(image);
  const section = cfvSection(metadata);
  const cfvSize = section.rawDataSize;
  if (cfvSize % PAGE_SIZE !== 0 || cfvSize < ENROLL_HEADER_SIZE) {
    throw new MeasureError(
      "enroll-invalid",
      `CFV section ${section.index} RawDataSize ${hex(cfvSize)} is not a whole number of 4 KiB blocks, so no firmware volume can be written into it`,
    );
  }

  const encoded = [volumeHeader(cfvSize), ...files.map(encodeFile)];
  const total = encoded.reduce((sum, part) => sum + part.length, 0);
  if (total > cfvSize) {
    throw new MeasureError(
      "enroll-invalid",
      `enrolled files need ${total} bytes with headers, but the CFV at ${hex(section.dataOffset)} holds ${cfvSize}; shorten the policy or certificate files`,
    );
  }

  const output = Buffer.from(image);
  Buffer.concat(encoded).copy(output, section.dataOffset);
  return output;
}

/** MigTD's CFV content: the policy, then the root CA (v1) or issuer chain (v2). */
export interface MigtdCfvFiles {
  policy: Uint8Array;
  rootCa?: Uint8Array;
  policyIssuerChain?: Uint8Array;
}

/**
 * Enrolls MigTD's files in the order MigTD's xtask passes them to
 * td-shim-enroll. The policy must be JSON (MigTD parses it at start-up);
 * exactly one of rootCa (policy v1) and policyIssuerChain (policy v2).
 */
export function enrollMigtdFiles(image: Uint8Array, files: MigtdCfvFiles): Buffer {
  checkPolicyJson(files.policy);
  if ((files.rootCa === undefined) === (files.policyIssuerChain === undefined)) {
    throw new MeasureError(
      "enroll-invalid",
      "enroll needs exactly one of a root CA (policy v1) and a policy issuer chain (policy v2)",
    );
  }

  const second = files.rootCa !== undefined
    ? { guid: MIGTD_FILE_GUIDS.rootCa, data: files.rootCa }
    : { guid: MIGTD_FILE_GUIDS.policyIssuerChain, data: files.policyIssuerChain! };
  return enrollCfv(image, [{ guid: MIGTD_FILE_GUIDS.policy, data: files.policy }, second]);
}

function checkPolicyJson(policy: Uint8Array): void {
  try {
    JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(policy));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new MeasureError("enroll-invalid", `the migration policy is not valid JSON (${reason})`);
  }
}

function volumeHeader(cfvSize: number): Buffer {
  const header = Buffer.alloc(ENROLL_HEADER_SIZE);
  guidToBytes(FFS3_FILE_SYSTEM_GUID).copy(header, FV_HEADER.fileSystemGuid);
  header.writeBigUInt64LE(BigInt(cfvSize), FV_HEADER.length);
  header.writeUInt32LE(FV_SIGNATURE, FV_HEADER.signature);
  header.writeUInt32LE(FV_ATTRIBUTES, FV_HEADER.attributes);
  header.writeUInt16LE(ENROLL_HEADER_SIZE, FV_HEADER.headerLength);
  header.writeUInt16LE(FV_EXT_HEADER_OFFSET, FV_HEADER.extHeaderOffset);
  header.writeUInt8(FV_REVISION, FV_HEADER.revision);
  header.writeUInt16LE((0x10000 - sum16(header.subarray(0, FV_HEADER.size))) & 0xffff, FV_HEADER.checksum);

  header.writeUInt32LE(cfvSize / PAGE_SIZE, BLOCK_MAP_OFFSET);
  header.writeUInt32LE(PAGE_SIZE, BLOCK_MAP_OFFSET + 4);

  header.writeUInt8(PAD_FILE_TYPE, PAD_FILE_OFFSET + FFS_HEADER.type);
  header.writeUIntLE(PAD_FILE_SIZE, PAD_FILE_OFFSET + FFS_HEADER.fileSize, 3);
  header.writeUInt8(FFS_STATE_VALID, PAD_FILE_OFFSET + FFS_HEADER.state);

  header.writeUInt32LE(EXT_HEADER_SIZE, EXT_HEADER_SIZE_OFFSET);
  return header;
}

/**
 * Encodes one raw FFS file: header with its checksum, the data, zero padding to 8
 * bytes. The header checksum makes the 8-bit sum of the header bytes other
 * than IntegrityCheck.File and State zero (td-shim enroller.rs
 * update_checksum).
 */
function encodeFile(file: EnrolledFile): Buffer {
  if (file.data.length < 1 || file.data.length > MAX_ENROLLED_FILE_SIZE) {
    throw new MeasureError(
      "enroll-invalid",
      `file ${file.guid} is ${file.data.length} bytes; td-shim-enroll accepts 1 to ${MAX_ENROLLED_FILE_SIZE} bytes`,
    );
  }

  const size = FFS_HEADER.size + file.data.length;
  const encoded = Buffer.alloc(alignUp(size, FFS_FILE_ALIGNMENT));
  guidToBytes(file.guid).copy(encoded, 0);
  encoded.writeUInt8(FFS_TYPE_RAW, FFS_HEADER.type);
  encoded.writeUIntLE(size, FFS_HEADER.fileSize, 3);
  encoded.set(file.data, FFS_HEADER.size);

  const headerSum = sum8(encoded.subarray(0, FFS_HEADER.size));
  encoded.writeUInt8((0x100 - headerSum) & 0xff, FFS_HEADER.headerChecksum);
  encoded.writeUInt8(FFS_FIXED_FILE_CHECKSUM, FFS_HEADER.fileChecksum);
  encoded.writeUInt8(FFS_STATE_VALID, FFS_HEADER.state);
  return encoded;
}
