// PLACEHOLDER (lead): only relu and sigmoid, naive; replaced by the numerics helper.
fn relu_fwd(x: f32, p: vec4<f32>) -> f32 { return select(0.0, x, x > 0.0); }
fn relu_der(x: f32, p: vec4<f32>) -> f32 { return select(0.0, 1.0, x > 0.0); }
fn relu_bwd(s: f32, p: vec4<f32>) -> f32 { return relu_der(s, p); }
fn leaky_relu_fwd(x: f32, p: vec4<f32>) -> f32 { return select(p.x * x, x, x > 0.0); }
fn leaky_relu_der(x: f32, p: vec4<f32>) -> f32 { return select(p.x, 1.0, x > 0.0); }
fn leaky_relu_bwd(s: f32, p: vec4<f32>) -> f32 { return leaky_relu_der(s, p); }
fn prelu_fwd(x: f32, p: vec4<f32>) -> f32 { return select(p.x * x, x, x > 0.0); }
fn prelu_der(x: f32, p: vec4<f32>) -> f32 { return select(p.x, 1.0, x > 0.0); }
fn prelu_bwd(s: f32, p: vec4<f32>) -> f32 { return prelu_der(s, p); }
fn rrelu_fwd(x: f32, p: vec4<f32>) -> f32 { return select(p.x * x, x, x >= 0.0); }
fn rrelu_der(x: f32, p: vec4<f32>) -> f32 { return select(p.x, 1.0, x > 0.0); }
fn rrelu_bwd(s: f32, p: vec4<f32>) -> f32 { return rrelu_der(s, p); }
fn sigmoid_fwd(x: f32, p: vec4<f32>) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn sigmoid_der(x: f32, p: vec4<f32>) -> f32 { let s = sigmoid_fwd(x, p); return s * (1.0 - s); }
fn sigmoid_bwd(y: f32, p: vec4<f32>) -> f32 { return y * (1.0 - y); }
