//! The `evaluate` action: parsing an arithmetic expression, evaluating it
//! exactly, and answering its value as JSON.

use evalexpr::{
    ContextWithMutableFunctions, ContextWithMutableVariables, DefaultNumericTypes, EvalexprError,
    Function, HashMapContext, Node, Operator, Value as EValue,
};
use serde_json::{json, Value};
use std::sync::LazyLock;

use super::{EXACT_FLOAT_INT, MAX_EXPRESSION_CHARS, MAX_TREE_DEPTH};
use crate::tools::ToolError;

/// Short function names agents write, mapped to the evaluator's own names.
fn function_alias(name: &str) -> Option<&'static str> {
    Some(match name {
        "sqrt" => "math::sqrt",
        "cbrt" => "math::cbrt",
        "abs" => "math::abs",
        "ln" => "math::ln",
        "log10" => "math::log10",
        "log2" => "math::log2",
        "exp" => "math::exp",
        "exp2" => "math::exp2",
        "pow" => "math::pow",
        "hypot" => "math::hypot",
        "sin" => "math::sin",
        "cos" => "math::cos",
        "tan" => "math::tan",
        "asin" => "math::asin",
        "acos" => "math::acos",
        "atan" => "math::atan",
        "atan2" => "math::atan2",
        "sinh" => "math::sinh",
        "cosh" => "math::cosh",
        "tanh" => "math::tanh",
        _ => return None,
    })
}

/// The constants and the one- or two-argument `log` the expressions may use,
/// built once.
static CONTEXT: LazyLock<Result<HashMapContext<DefaultNumericTypes>, String>> =
    LazyLock::new(evaluation_context);

fn evaluation_context() -> Result<HashMapContext<DefaultNumericTypes>, String> {
    let mut ctx = HashMapContext::<DefaultNumericTypes>::new();
    let fail = |e: EvalexprError| format!("calculator set-up failed: {e}");
    for (name, value) in [
        ("pi", std::f64::consts::PI),
        ("e", std::f64::consts::E),
        ("tau", std::f64::consts::TAU),
    ] {
        ctx.set_value(name.to_string(), EValue::Float(value))
            .map_err(fail)?;
    }
    ctx.set_function(
        "log".to_string(),
        Function::new(|arg: &EValue| match arg {
            EValue::Tuple(args) if args.len() == 2 => Ok(EValue::Float(
                args[0].as_number()?.log(args[1].as_number()?),
            )),
            other => Ok(EValue::Float(other.as_number()?.ln())),
        }),
    )
    .map_err(fail)?;
    Ok(ctx)
}

/// Depth of the operator tree, walked without recursion.
fn tree_depth(root: &Node) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(root, 1usize)];
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        stack.extend(node.children().iter().map(|c| (c, depth + 1)));
    }
    deepest
}

/// Turns every integer literal into a float, so the tree divides exactly.
fn make_float_tree(root: &mut Node) {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if let Operator::Const { value } = node.operator_mut() {
            if let EValue::Int(i) = value {
                *value = EValue::Float(*i as f64);
            }
        }
        stack.extend(node.children_mut().iter_mut());
    }
}

/// Keeps the integer result where the exact (float) evaluation agrees with it,
/// so `2 + 3` answers 5 while `7 / 2` answers 3.5.
fn reconcile(int: &EValue, float: &EValue) -> EValue {
    match (int, float) {
        (EValue::Int(i), EValue::Float(f)) => {
            let i_f = *i as f64;
            if (i_f - f).abs() <= 1e-9 * i_f.abs().max(1.0) {
                EValue::Int(*i)
            } else {
                EValue::Float(*f)
            }
        }
        (EValue::Tuple(a), EValue::Tuple(b)) if a.len() == b.len() => {
            EValue::Tuple(a.iter().zip(b).map(|(x, y)| reconcile(x, y)).collect())
        }
        _ => float.clone(),
    }
}

fn to_json(value: &EValue) -> Result<Value, ToolError> {
    Ok(match value {
        EValue::Int(i) => json!(i),
        EValue::Float(f) => {
            if !f.is_finite() {
                return Err(ToolError::invalid(
                    "expression",
                    "the result is not a finite number (division by zero, or out of range)",
                ));
            }
            if f.fract() == 0.0 && f.abs() < EXACT_FLOAT_INT {
                json!(*f as i64)
            } else {
                json!(f)
            }
        }
        EValue::Boolean(b) => json!(b),
        EValue::String(s) => json!(s),
        EValue::Tuple(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        EValue::Empty => {
            return Err(ToolError::invalid(
                "expression",
                "the expression has no value",
            ))
        }
    })
}

fn describe_error(err: &EvalexprError) -> String {
    match err {
        EvalexprError::DivisionError { .. } | EvalexprError::ModulationError { .. } => {
            "division by zero".to_string()
        }
        EvalexprError::VariableIdentifierNotFound(name) => {
            format!("unknown name \"{name}\" (known constants: pi, e, tau)")
        }
        EvalexprError::FunctionIdentifierNotFound(name) => format!("unknown function \"{name}\""),
        EvalexprError::ContextNotMutable => "assignments are not supported".to_string(),
        other => other.to_string(),
    }
}

pub(super) fn evaluate(expression: &str) -> Result<Value, ToolError> {
    if expression.trim().is_empty() {
        return Err(ToolError::invalid("expression", "the expression is empty"));
    }
    if expression.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(ToolError::invalid(
            "expression",
            format!("the expression is longer than {MAX_EXPRESSION_CHARS} characters"),
        ));
    }
    let mut tree =
        evalexpr::build_operator_tree::<DefaultNumericTypes>(expression).map_err(|e| {
            ToolError::invalid("expression", format!("cannot parse the expression: {e}"))
        })?;
    if tree_depth(&tree) > MAX_TREE_DEPTH {
        return Err(ToolError::invalid(
            "expression",
            "the expression is nested too deeply",
        ));
    }
    for name in tree.iter_function_identifiers_mut() {
        if let Some(full) = function_alias(name) {
            *name = full.to_string();
        }
    }
    let ctx = CONTEXT.as_ref().map_err(|e| ToolError::Failed(e.clone()))?;
    let mut float_tree = tree.clone();
    make_float_tree(&mut float_tree);

    let int_result = tree.eval_with_context(ctx);
    let float_result = float_tree.eval_with_context(ctx);
    let value = match (&int_result, float_result) {
        (Ok(int), Ok(float)) => reconcile(int, &float),
        (Err(EvalexprError::DivisionError { .. } | EvalexprError::ModulationError { .. }), _) => {
            return Err(ToolError::invalid("expression", "division by zero"));
        }
        (_, Ok(float)) => float,
        (Ok(int), Err(_)) => int.clone(),
        (Err(e), Err(_)) => {
            return Err(ToolError::invalid(
                "expression",
                format!("cannot evaluate the expression: {}", describe_error(e)),
            ))
        }
    };
    let result = to_json(&value)?;
    let result_type = match &result {
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "float",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Array(_) => "tuple",
        _ => "other",
    };
    Ok(json!({"expression": expression, "result": result, "result_type": result_type}))
}
