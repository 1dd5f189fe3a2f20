//! What a SavedModel says of itself: its `MetaGraphDef` (handed back by
//! the loader) read with prost over `serve/proto/tensorflow.proto`, and
//! the chosen `SignatureDef`'s inputs and outputs; and the `ConfigProto`
//! a session is made with.

use bprwire::features::OutputType;
use prost::Message;

use crate::models::feed::Inlet;

use crate::proto::tensorflow as pb;

/// One input or output of a signature.
#[derive(Clone, Debug)]
pub struct Port {
    /// Its key in the signature (what the configuration names).
    pub key: String,
    /// The graph tensor (`operation:index`).
    pub tensor: String,
    /// Its element type, when the server has arrays of it.
    pub dtype: Option<OutputType>,
    /// Its element type as TensorFlow names it.
    pub type_name: String,
    /// Its dimensions (-1: any size); `None` when the rank is unknown.
    pub shape: Option<Vec<i64>>,
}

impl Port {
    /// As the feed plan reads an input.
    pub fn inlet(&self) -> Inlet {
        Inlet {
            name: self.key.clone(),
            dtype: self.dtype,
            type_name: self.type_name.clone(),
            shape: self.shape.clone(),
        }
    }
}

/// A signature's inputs and outputs, each sorted by key; and the layouts
/// the graph's request ops scatter into.
#[derive(Debug)]
pub struct Signature {
    /// Inputs.
    pub inputs: Vec<Port>,
    /// Outputs.
    pub outputs: Vec<Port>,
    /// The `layout` attribute of every `BatchPredictionRequestScatter`
    /// node of the graph and of its functions.
    pub scatter_layouts: Vec<Vec<u8>>,
}

/// tfop's request op.
const SCATTER_OP: &str = "BatchPredictionRequestScatter";

/// The signature `name` of the serialized `MetaGraphDef` `bytes`.
///
/// # Errors
///
/// Bytes that are no `MetaGraphDef`, no signature of that name (the error
/// lists those there are), or one with an input or output that is not a
/// dense tensor.
pub fn read(bytes: &[u8], name: &str) -> Result<Signature, String> {
    let meta = pb::MetaGraphDef::decode(bytes).map_err(|e| format!("the SavedModel's MetaGraphDef: {e}"))?;
    let def = meta.signature_def.get(name).ok_or_else(|| {
        let names: Vec<&String> = meta.signature_def.keys().collect();
        format!("model.signature: the SavedModel has no signature {name:?} (it has {names:?})")
    })?;
    let ports = |map: &std::collections::HashMap<String, pb::TensorInfo>, what: &str| {
        let mut ports = map
            .iter()
            .map(|(key, info)| port(key, info).map_err(|e| format!("signature {name:?} {what} {key:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        ports.sort_by(|a, b| a.key.cmp(&b.key));
        Ok::<_, String>(ports)
    };
    let graph = meta.graph_def.unwrap_or_default();
    let functions = graph.library.unwrap_or_default().function;
    let scatter_layouts = graph
        .node
        .iter()
        .chain(functions.iter().flat_map(|f| &f.node_def))
        .filter(|n| n.op == SCATTER_OP)
        .map(|n| n.attr.get("layout").map(|a| a.s.clone()).unwrap_or_default())
        .collect();
    Ok(Signature {
        inputs: ports(&def.inputs, "input")?,
        outputs: ports(&def.outputs, "output")?,
        scatter_layouts,
    })
}

fn port(key: &str, info: &pb::TensorInfo) -> Result<Port, String> {
    if info.name.is_empty() {
        return Err("is not a dense tensor (a sparse or composite one)".into());
    }
    let dtype = pb::DataType::try_from(info.dtype).ok();
    let type_name = dtype.map_or_else(
        || format!("DataType {}", info.dtype),
        |d| d.as_str_name().to_string(),
    );
    let shape = match &info.tensor_shape {
        Some(s) if !s.unknown_rank => Some(s.dim.iter().map(|d| d.size).collect()),
        _ => None,
    };
    Ok(Port {
        key: key.to_string(),
        tensor: info.name.clone(),
        dtype: dtype.and_then(output_type),
        type_name,
        shape,
    })
}

/// The server's array type for a TensorFlow type it carries.
fn output_type(t: pb::DataType) -> Option<OutputType> {
    match t {
        pb::DataType::DtFloat => Some(OutputType::F32),
        pb::DataType::DtDouble => Some(OutputType::F64),
        pb::DataType::DtInt64 => Some(OutputType::I64),
        pb::DataType::DtUint8 => Some(OutputType::U8),
        _ => None,
    }
}

/// A serialized `ConfigProto`: the session's own thread pools of these
/// sizes.
pub fn session_config(intra: usize, inter: usize) -> Vec<u8> {
    let clamp = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    pb::ConfigProto {
        intra_op_parallelism_threads: clamp(intra),
        inter_op_parallelism_threads: clamp(inter),
        use_per_session_threads: true,
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, dtype: pb::DataType, dims: &[i64]) -> pb::TensorInfo {
        pb::TensorInfo {
            name: name.into(),
            dtype: dtype as i32,
            tensor_shape: Some(pb::TensorShapeProto::of(dims)),
        }
    }

    fn meta() -> Vec<u8> {
        let sig = pb::SignatureDef {
            inputs: [(
                "x".to_string(),
                info("serving_default_x:0", pb::DataType::DtFloat, &[-1, 4]),
            )]
            .into(),
            outputs: [
                (
                    "scores".to_string(),
                    info("StatefulPartitionedCall:1", pb::DataType::DtFloat, &[-1, 3]),
                ),
                (
                    "ids".to_string(),
                    info("StatefulPartitionedCall:0", pb::DataType::DtInt32, &[-1]),
                ),
            ]
            .into(),
            method_name: "tensorflow/serving/predict".into(),
        };
        let scatter = pb::NodeDef {
            name: "scatter".into(),
            op: SCATTER_OP.into(),
            attr: [("layout".to_string(), pb::AttrValue { s: b"{}".to_vec() })].into(),
        };
        pb::MetaGraphDef {
            meta_info_def: None,
            graph_def: Some(pb::GraphDef {
                node: Vec::new(),
                library: Some(pb::FunctionDefLibrary {
                    function: vec![pb::FunctionDef {
                        node_def: vec![scatter],
                    }],
                }),
            }),
            signature_def: [("serving_default".to_string(), sig)].into(),
        }
        .encode_to_vec()
    }

    #[test]
    fn a_signature_reads_back_sorted_with_types_the_server_carries() {
        let s = read(&meta(), "serving_default").unwrap();
        assert_eq!(s.inputs[0].tensor, "serving_default_x:0");
        assert_eq!(s.inputs[0].dtype, Some(OutputType::F32));
        assert_eq!(s.inputs[0].shape, Some(vec![-1, 4]));
        let keys: Vec<&str> = s.outputs.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["ids", "scores"]);
        assert_eq!(s.outputs[0].dtype, None);
        assert_eq!(s.outputs[0].type_name, "DT_INT32");
        assert_eq!(
            s.scatter_layouts,
            [b"{}".to_vec()],
            "found in the graph's functions"
        );
    }

    #[test]
    fn a_missing_signature_is_named_with_those_there_are() {
        let e = read(&meta(), "predict").unwrap_err();
        assert!(
            e.contains("no signature \"predict\"") && e.contains("serving_default"),
            "{e}"
        );
        let e = read(b"\xff\xff", "serving_default").unwrap_err();
        assert!(e.contains("MetaGraphDef"), "{e}");
    }

    #[test]
    fn the_session_config_sets_its_own_pools() {
        let c = pb::ConfigProto::decode(&session_config(2, 3)[..]).unwrap();
        assert_eq!(
            (c.intra_op_parallelism_threads, c.inter_op_parallelism_threads),
            (2, 3)
        );
        assert!(c.use_per_session_threads);
    }
}
