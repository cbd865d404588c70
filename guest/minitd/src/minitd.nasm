; minitd: a minimal TD firmware image with MigTD's layout.
;
; A 16 MiB flat image whose last byte sits at 4 GiB. The reset vector
; switches to 32-bit protected mode, the payload writes a banner naming
; the firmware and its version to COM1 and halts. The image carries td-shim's
; TDX metadata with MigTD's section table and a configuration firmware
; volume with the migration policy and root CA enrolled, so that every
; measurement MigTD's tools make has real input.
;
; Assemble from this folder (build.sh does this):
;   nasm -f bin -I ./ -D MINITD_DEBUG=0 -D POLICY_FILE='"policy.json"' \
;     -D ROOT_CA_FILE='"root_ca.der"' -o minitd.bin minitd.nasm

%include "layout.inc"
%include "guid.inc"
%include "version.inc"

; Selectors of the flat code and data segments in reset_vector.inc's GDT.
%define CODE_SELECTOR 0x08
%define DATA_SELECTOR 0x10

; Pads with zeros up to file offset %1; nasm stops with "TIMES value is
; negative" when the region before it is too large.
%macro REGION 1
    times (%1) - ($ - $$) db 0
%endmacro

; Stops the build with "TIMES value -1 is negative" unless %1 holds.
%macro ASSERT 1
    times -!(%1) db 0
%endmacro

    org IMAGE_BASE

    REGION CONFIG_OFFSET
%include "cfv.inc"

    ; Mailbox, TempStack and TempHeap are zero in the image.
    REGION PAYLOAD_OFFSET
%include "payload.inc"

    ; td-shim-patch would write TD_INFO here; MigTD's image has zeros.
    REGION TD_INFO_OFFSET
    REGION METADATA_OFFSET
%include "metadata.inc"

    REGION IPL_OFFSET
%include "ipl.inc"

    REGION RESET_VECTOR_OFFSET
%include "reset_vector.inc"

    ASSERT $ - $$ == IMAGE_SIZE
