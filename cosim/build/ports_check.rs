//! Checks that the port structs of `shim/ports.h` mirror the model Verilator
//! generated: every port (but the clock) has a field of the same direction and name,
//! wide enough for the port. A port added to `iommu_top` then fails the build here
//! instead of being silently left undriven.

use std::path::Path;

/// A port or field: direction, name and width in bits.
#[derive(Debug)]
struct Port {
    input: bool,
    name: String,
    bits: u32,
}

/// Compares `V<name>.h` in `model_dir` with `ports.h`.
pub fn check(model_dir: &Path, prefix: &str, ports_h: &Path) -> Result<(), String> {
    let header = model_dir.join(format!("{prefix}.h"));
    let model = std::fs::read_to_string(&header).map_err(|e| format!("cannot read {}: {e}", header.display()))?;
    let shim = std::fs::read_to_string(ports_h).map_err(|e| format!("cannot read {}: {e}", ports_h.display()))?;
    let ports = model_ports(&model);
    let fields: Vec<Port> = struct_fields(&shim, "IommuInputs", true)
        .into_iter()
        .chain(struct_fields(&shim, "IommuOutputs", false))
        .collect();
    let mut problems = Vec::new();
    for port in ports.iter().filter(|p| p.name != "clk_i") {
        match fields.iter().find(|f| f.name == port.name) {
            None => problems.push(format!("port {} has no field", port.name)),
            Some(f) if f.input != port.input => problems.push(format!("field {} has the wrong direction", f.name)),
            Some(f) if f.bits < port.bits => {
                problems.push(format!("field {} has {} bits, the port {}", f.name, f.bits, port.bits))
            }
            Some(_) => {}
        }
    }
    for field in &fields {
        if !ports.iter().any(|p| p.name == field.name) {
            problems.push(format!("field {} is no port of iommu_top", field.name));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "cosim/shim/ports.h does not match the ports of iommu_top ({}): {}. Update ports.h, shim.h and \
             cosim/src/ports.rs together.",
            header.display(),
            problems.join("; ")
        ))
    }
}

/// The ports of a Verilator model header: lines `VL_IN8(&name,msb,lsb);`.
fn model_ports(header: &str) -> Vec<Port> {
    header
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let input = line.starts_with("VL_IN");
            if !input && !line.starts_with("VL_OUT") {
                return None;
            }
            let args = line.split_once("(&")?.1.split_once(')')?.0;
            let mut parts = args.split(',');
            let name = parts.next()?.trim().to_owned();
            let msb: u32 = parts.next()?.trim().parse().ok()?;
            let lsb: u32 = parts.next()?.trim().parse().ok()?;
            Some(Port { input, name, bits: msb - lsb + 1 })
        })
        .collect()
}

/// The fields of `typedef struct <name> { ... } <name>;` with their bits.
fn struct_fields(header: &str, name: &str, input: bool) -> Vec<Port> {
    let open = format!("typedef struct {name} {{");
    let Some(start) = header.find(&open) else { return Vec::new() };
    let body = &header[start + open.len()..];
    let body = &body[..body.find('}').unwrap_or(body.len())];
    body.lines()
        .filter_map(|line| {
            let code = line.split("/*").next()?.trim().strip_suffix(';')?;
            let (ty, declarator) = code.split_once(' ')?;
            let scalar = match ty {
                "bool" => 1,
                "uint8_t" => 8,
                "uint16_t" => 16,
                "uint32_t" => 32,
                "uint64_t" => 64,
                _ => return None,
            };
            let mut pieces = declarator.trim().split('[');
            let field = pieces.next()?.trim().to_owned();
            let count: u32 = pieces.map(|dim| array_len(header, dim.trim_end_matches(']'))).product();
            Some(Port { input, name: field, bits: scalar * count })
        })
        .collect()
}

/// The length of an array dimension: a number, or a macro `#define`d in the header
/// as a number (anything else counts as 1, which can only make a check fail).
fn array_len(header: &str, dim: &str) -> u32 {
    let dim = dim.trim();
    dim.parse()
        .ok()
        .or_else(|| {
            header.lines().find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some("#define") && words.next() == Some(dim)).then(|| words.next()?.parse().ok())?
            })
        })
        .unwrap_or(1)
}
