/* The ports of iommu_top (rtl/iommu_top.sv) as two plain C structs, one per
 * direction, passed by pointer once per clock cycle. Mirrored field by field by
 * `Inputs` and `Outputs` in cosim/src/ports.rs (#[repr(C)]); a test compares the
 * offsets of both sides through iommu_cosim_layout().
 *
 * Field names are the port names. Each field is the smallest C type that holds the
 * port; the shim drops input bits above a port's width. clk_i is not here: the shim
 * drives the clock.
 */
#ifndef IOMMU_COSIM_PORTS_H
#define IOMMU_COSIM_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Memory-response ports are sized for the most walkers any configuration has. */
#define IOMMU_MAX_WALKERS 8
/* 64-bit words of one walker's memory response (512 bits). */
#define IOMMU_RSP_WORDS 8

typedef struct IommuInputs {
    bool rst_ni;
    uint64_t capabilities_i;
    uint32_t fctl_i;
    uint64_t ddtp_i;
    bool req_valid_i;
    uint16_t req_tag_i;
    uint32_t req_did_i; /* 24 bits */
    bool req_pv_i;
    uint32_t req_pid_i; /* 20 bits */
    bool req_priv_i;
    uint8_t req_access_i; /* 2 bits, iommu_base_pkg::access_e */
    uint64_t req_iova_i;
    bool rsp_ready_i;
    bool mem_req_ready_i;
    uint8_t mem_rsp_valid_i; /* bit w: walker w */
    uint8_t mem_rsp_err_i;   /* bit w: walker w */
    /* [walker][word]: word k of walker w is bits w*512 + 64k .. +63 of the port. */
    uint64_t mem_rsp_data_i[IOMMU_MAX_WALKERS][IOMMU_RSP_WORDS];
    bool cmd_valid_i;
    uint64_t cmd_lo_i;
    uint64_t cmd_hi_i;
} IommuInputs;

typedef struct IommuOutputs {
    bool req_ready_o;
    bool rsp_valid_o;
    uint16_t rsp_tag_o;
    uint8_t rsp_status_o; /* 2 bits, iommu_base_pkg::status_e */
    uint64_t rsp_spa_o;
    bool rsp_fault_o;
    uint64_t rsp_rec0_o;
    uint64_t rsp_iotval_o;
    uint64_t rsp_iotval2_o;
    uint8_t rsp_source_o; /* 3 bits, iommu_base_pkg::source_e */
    uint8_t rsp_reads_o;
    bool mem_req_valid_o;
    uint8_t mem_req_id_o; /* 3 bits */
    bool mem_req_cas_o;
    uint64_t mem_req_addr_o;
    uint8_t mem_req_words_o; /* 4 bits */
    uint64_t mem_req_cmp_o;
    uint64_t mem_req_swap_o;
    bool cmd_ready_o;
    bool cmd_illegal_o;
    bool idle_o;
    uint32_t cnt_iotlb_hit_o;
    uint32_t cnt_iotlb_miss_o;
    uint32_t cnt_ddtc_hit_o;
    uint32_t cnt_ddtc_miss_o;
    uint32_t cnt_pdtc_hit_o;
    uint32_t cnt_pdtc_miss_o;
    uint32_t cnt_walk_merged_o;
    uint32_t cnt_walk_reads_o;
    uint32_t cnt_walk_writes_o;
    uint32_t cnt_faults_o;
} IommuOutputs;

/* The field names of each struct, in declaration order (for the layout check). */
#define IOMMU_INPUT_FIELDS(X)                                                                    \
    X(rst_ni) X(capabilities_i) X(fctl_i) X(ddtp_i) X(req_valid_i) X(req_tag_i) X(req_did_i)    \
    X(req_pv_i) X(req_pid_i) X(req_priv_i) X(req_access_i) X(req_iova_i) X(rsp_ready_i)         \
    X(mem_req_ready_i) X(mem_rsp_valid_i) X(mem_rsp_err_i) X(mem_rsp_data_i) X(cmd_valid_i)     \
    X(cmd_lo_i) X(cmd_hi_i)

#define IOMMU_OUTPUT_FIELDS(X)                                                                   \
    X(req_ready_o) X(rsp_valid_o) X(rsp_tag_o) X(rsp_status_o) X(rsp_spa_o) X(rsp_fault_o)      \
    X(rsp_rec0_o) X(rsp_iotval_o) X(rsp_iotval2_o) X(rsp_source_o) X(rsp_reads_o)               \
    X(mem_req_valid_o) X(mem_req_id_o) X(mem_req_cas_o) X(mem_req_addr_o) X(mem_req_words_o)    \
    X(mem_req_cmp_o) X(mem_req_swap_o) X(cmd_ready_o) X(cmd_illegal_o) X(idle_o)                \
    X(cnt_iotlb_hit_o) X(cnt_iotlb_miss_o) X(cnt_ddtc_hit_o) X(cnt_ddtc_miss_o)                 \
    X(cnt_pdtc_hit_o) X(cnt_pdtc_miss_o) X(cnt_walk_merged_o) X(cnt_walk_reads_o)               \
    X(cnt_walk_writes_o) X(cnt_faults_o)

/* One field of the layout table. */
typedef struct IommuField {
    const char* name;
    size_t offset;
} IommuField;

/* One struct's layout: its size and its fields in declaration order. */
typedef struct IommuLayout {
    size_t size;
    size_t count;
    const IommuField* fields;
} IommuLayout;

#endif
