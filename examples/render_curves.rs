//! The figure of six activations and their derivatives, computed and drawn on the GPU, headless.
//!
//! One compute pass evaluates sigmoid, tanh, relu, leaky_relu (slope 0.1), gelu and silu and
//! their derivatives at 601 points of [−4, 4] into one buffer (usages STORAGE | VERTEX |
//! COPY_SRC), each curve at its own offset — a [`Chain`] of twelve prepared dispatches. In the
//! same encoder a render pass then draws that buffer directly as vertices: one line strip per
//! curve, with x from the input buffer and y from the curve's slice of the output, colour and
//! panel transform per instance. Axes, grid, tick labels and legend are plain triangles and lines.
//! The 4× multisampled image is resolved, copied out (rows padded to 256 bytes) and written as a
//! PNG. Runs on any adapter, lavapipe included; no window.
//!
//! `cargo run --release --example render_curves -- --output curves.png`

use std::error::Error;

use wgpu_activations::wgpu;
use wgpu_activations::{Activation, Chain, Context, Tensor};

/// Samples per curve: x = −4 + 8·i/600, so that 0 is a sample.
pub const SAMPLES: usize = 601;
/// The activations drawn, with the names the legend shows.
pub const CURVES: [(&str, &str); 6] = [
    ("sigmoid", "sigmoid"),
    ("tanh", "tanh"),
    ("relu", "relu"),
    ("leaky_relu", "leaky_relu(0.1)"),
    ("gelu", "gelu"),
    ("silu", "silu"),
];
/// One colour per activation (the tab10 palette), used in both panels.
pub const COLORS: [[u8; 3]; 6] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
];

const SHADER: &str = r#"
struct VOut {
    @builtin(position) pos: vec4<f32>,
    @location(0) color: vec4<f32>,
}

// A curve's vertex: x from the sample buffer, y from the curve's slice of the activations'
// output; colour, data-to-clip transform and a sub-pixel nudge (for line width) per instance.
@vertex
fn curve_vs(@location(0) x: f32, @location(1) y: f32, @location(2) color: vec4<f32>,
            @location(3) xform: vec4<f32>, @location(4) nudge: vec2<f32>) -> VOut {
    var o: VOut;
    o.pos = vec4<f32>(xform.xy + xform.zw * vec2<f32>(x, y) + nudge, 0.0, 1.0);
    o.color = color;
    return o;
}

@vertex
fn flat_vs(@location(0) p: vec2<f32>, @location(1) color: vec4<f32>) -> VOut {
    var o: VOut;
    o.pos = vec4<f32>(p, 0.0, 1.0);
    o.color = color;
    return o;
}

@fragment
fn fs(i: VOut) -> @location(0) vec4<f32> {
    return i.color;
}
"#;

/// A plot panel: its pixel rectangle and data ranges.
#[derive(Clone, Copy)]
struct Panel {
    px: (f32, f32, f32, f32), // left, top, right, bottom
    x: (f32, f32),
    y: (f32, f32),
    title: &'static str,
    y_grid: f32,
    y_labels: &'static [(f32, &'static str)],
}

/// The rendered figure: RGBA8, `width × height`, rows top to bottom.
pub struct Figure {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels.
    pub rgba: Vec<u8>,
    /// The computed curves, as read back from the vertex buffer: forward values of each
    /// activation, then derivatives, `SAMPLES` each.
    pub curves: Vec<f32>,
    /// The sample points.
    pub xs: Vec<f32>,
}

/// The x samples.
pub fn samples() -> Vec<f32> {
    (0..SAMPLES)
        .map(|i| -4.0 + 8.0 * i as f32 / (SAMPLES - 1) as f32)
        .collect()
}

/// The activations drawn.
pub fn activations() -> Result<Vec<Activation>, wgpu_activations::Error> {
    CURVES
        .iter()
        .map(|(name, _)| {
            let a = Activation::by_name(name)?;
            if *name == "leaky_relu" {
                a.with("negative_slope", 0.1)
            } else {
                Ok(a)
            }
        })
        .collect()
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Instance {
    color: [f32; 4],
    xform: [f32; 4],
    nudge: [f32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Vertex {
    p: [f32; 2],
    color: [f32; 4],
}

/// Geometry in pixels, converted to clip space as it is added.
struct Canvas {
    w: f32,
    h: f32,
    lines: Vec<Vertex>,
    tris: Vec<Vertex>,
}

fn rgba(c: [u8; 3]) -> [f32; 4] {
    [
        c[0] as f32 / 255.0,
        c[1] as f32 / 255.0,
        c[2] as f32 / 255.0,
        1.0,
    ]
}

impl Canvas {
    fn clip(&self, x: f32, y: f32) -> [f32; 2] {
        [x / self.w * 2.0 - 1.0, 1.0 - y / self.h * 2.0]
    }
    fn line(&mut self, a: (f32, f32), b: (f32, f32), color: [f32; 4]) {
        // Pixel centres, so that one-pixel lines land on one row or column.
        for (x, y) in [a, b] {
            let p = self.clip(x + 0.5, y + 0.5);
            self.lines.push(Vertex { p, color });
        }
    }
    fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, color: [f32; 4]) {
        let [a, b, c, d] = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)].map(|(x, y)| self.clip(x, y));
        for p in [a, b, c, a, c, d] {
            self.tris.push(Vertex { p, color });
        }
    }
    /// `text` in the 5×9 bitmap font, `scale` pixels per font pixel, anchored at its top-left,
    /// top-centre or top-right (`align` −1, 0, 1) at (x, y).
    fn text(&mut self, text: &str, x: f32, y: f32, scale: f32, align: i32, color: [f32; 4]) {
        let advance = 6.0 * scale;
        let width = text.chars().count() as f32 * advance - scale;
        let x0 = match align {
            -1 => x,
            0 => x - width / 2.0,
            _ => x - width,
        };
        for (k, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            for (r, bits) in rows.iter().enumerate() {
                for c in 0..5 {
                    if bits & (0x10 >> c) != 0 {
                        let gx = x0 + k as f32 * advance + c as f32 * scale;
                        let gy = y + r as f32 * scale;
                        self.rect(gx, gy, gx + scale, gy + scale, color);
                    }
                }
            }
        }
    }
}

/// A 5×9 bitmap glyph: rows top to bottom, bit 4 the leftmost column; rows 7-8 are descenders.
fn glyph(c: char) -> [u8; 9] {
    let g: [u8; 7] = match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '\'' => [0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00],
        'a' => [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F],
        'c' => [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'd' => [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F],
        'e' => [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        'f' => [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'm' => [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'x' => [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11],
        // Descenders.
        'g' => return [0x00, 0x00, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'y' => return [0x00, 0x00, 0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        '_' => return [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F, 0x00],
        _ => [0; 7],
    };
    let mut out = [0u8; 9];
    out[..7].copy_from_slice(&g);
    out
}

const PANELS: [Panel; 2] = [
    Panel {
        px: (90.0, 70.0, 575.0, 725.0),
        x: (-4.0, 4.0),
        y: (-1.25, 4.25),
        title: "activation f(x)",
        y_grid: 0.5,
        y_labels: &[
            (-1.0, "-1"),
            (0.0, "0"),
            (1.0, "1"),
            (2.0, "2"),
            (3.0, "3"),
            (4.0, "4"),
        ],
    },
    Panel {
        px: (685.0, 70.0, 1170.0, 725.0),
        x: (-4.0, 4.0),
        y: (-0.3, 1.3),
        title: "derivative f'(x)",
        y_grid: 0.125,
        y_labels: &[
            (0.0, "0"),
            (0.25, "0.25"),
            (0.5, "0.5"),
            (0.75, "0.75"),
            (1.0, "1"),
        ],
    },
];

impl Panel {
    fn pixel(&self, x: f32, y: f32) -> (f32, f32) {
        let (l, t, r, b) = self.px;
        (
            l + (x - self.x.0) / (self.x.1 - self.x.0) * (r - l),
            b - (y - self.y.0) / (self.y.1 - self.y.0) * (b - t),
        )
    }
    /// `(ox, oy, sx, sy)`: clip = o + s·data.
    fn xform(&self, w: f32, h: f32) -> [f32; 4] {
        let (x0, y0) = self.pixel(0.0, 0.0);
        let (x1, y1) = self.pixel(1.0, 1.0);
        [
            x0 / w * 2.0 - 1.0,
            1.0 - y0 / h * 2.0,
            (x1 - x0) / w * 2.0,
            -(y1 - y0) / h * 2.0,
        ]
    }
}

/// Axes, grid, tick labels, titles and legend.
fn decorations(w: f32, h: f32) -> Canvas {
    let mut cv = Canvas {
        w,
        h,
        lines: Vec::new(),
        tris: Vec::new(),
    };
    let grid = rgba([225, 225, 225]);
    let axis = rgba([90, 90, 90]);
    let ink = rgba([30, 30, 30]);
    for p in &PANELS {
        let (l, t, r, b) = p.px;
        let mut x = p.x.0;
        while x <= p.x.1 + 1e-3 {
            let (px, _) = p.pixel(x, 0.0);
            cv.line((px, t), (px, b), grid);
            if (x.round() - x).abs() < 1e-3 && (x as i32) % 2 == 0 {
                cv.text(&format!("{}", x as i32), px, b + 10.0, 2.0, 0, ink);
            }
            x += 0.5;
        }
        let mut y = (p.y.0 / p.y_grid).ceil() * p.y_grid;
        while y <= p.y.1 + 1e-6 {
            let (_, py) = p.pixel(0.0, y);
            cv.line((l, py), (r, py), grid);
            y += p.y_grid;
        }
        for &(v, label) in p.y_labels {
            let (_, py) = p.pixel(0.0, v);
            cv.text(label, l - 10.0, py - 7.0, 2.0, 1, ink);
        }
        // The axes through the origin, and the frame.
        let (ox, oy) = p.pixel(0.0, 0.0);
        cv.line((l, oy), (r, oy), axis);
        cv.line((ox, t), (ox, b), axis);
        for (a, c) in [
            ((l, t), (r, t)),
            ((r, t), (r, b)),
            ((r, b), (l, b)),
            ((l, b), (l, t)),
        ] {
            cv.line(a, c, axis);
        }
        cv.text(p.title, (l + r) / 2.0, 28.0, 3.0, 0, ink);
        cv.text("x", (l + r) / 2.0, b + 36.0, 3.0, 0, ink);
    }
    cv
}

/// The legend, drawn over the curves in the top-left of the first panel.
fn legend(w: f32, h: f32) -> Canvas {
    let mut cv = Canvas {
        w,
        h,
        lines: Vec::new(),
        tris: Vec::new(),
    };
    let (l, t, _, _) = PANELS[0].px;
    let (x0, y0) = (l + 14.0, t + 14.0);
    let row = 30.0;
    cv.rect(
        x0,
        y0,
        x0 + 250.0,
        y0 + row * CURVES.len() as f32 + 10.0,
        rgba([255, 255, 255]),
    );
    for (k, (_, label)) in CURVES.iter().enumerate() {
        let y = y0 + 10.0 + row * k as f32;
        cv.rect(x0 + 10.0, y + 7.0, x0 + 46.0, y + 11.0, rgba(COLORS[k]));
        cv.text(label, x0 + 58.0, y, 2.0, -1, rgba([30, 30, 30]));
    }
    cv
}

fn vertex_layout(
    stride: u64,
    step_mode: wgpu::VertexStepMode,
    attributes: &[wgpu::VertexAttribute],
) -> Option<wgpu::VertexBufferLayout<'_>> {
    Some(wgpu::VertexBufferLayout {
        array_stride: stride,
        step_mode,
        attributes,
    })
}

/// Compute the curves and draw the figure at `width × height`.
pub fn render(ctx: &Context, width: u32, height: u32) -> Result<Figure, Box<dyn Error>> {
    let device = ctx.device();
    let n = SAMPLES;
    let xs = samples();
    let acts = activations()?;

    // The sample points and the output: usages for the compute pass and for drawing.
    let x_buf = wgpu::util::DeviceExt::create_buffer_init(
        device,
        &wgpu::util::BufferInitDescriptor {
            label: Some("curve x"),
            contents: bytemuck::cast_slice(&xs),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::VERTEX,
        },
    );
    let curves = 2 * acts.len();
    let y_buf = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("curve y"),
        size: (curves * n * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::VERTEX
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    // Curve k at byte k·601·4: 4-byte aligned, not 16 or 256, which the kernels handle.
    let slice = |k: usize| Tensor::new(&y_buf, (k * n * 4) as u64, n);
    let mut chain = Chain::new("curves");
    for (k, act) in acts.iter().enumerate() {
        let x = Tensor::new(&x_buf, 0, n);
        chain.push(ctx.prepare_forward(act, x, slice(k))?);
        chain.push(ctx.prepare_derivative(act, x, slice(acts.len() + k))?);
    }

    // Draw state.
    let (w, h) = (width as f32, height as f32);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("render_curves"),
        source: wgpu::ShaderSource::Wgsl(SHADER.into()),
    });
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let samples = 4;
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("render_curves"),
        bind_group_layouts: &[],
        immediate_size: 0,
    });
    let pipeline = |vs: &str, buffers: &[Option<wgpu::VertexBufferLayout>], topology| {
        device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some(vs),
            layout: Some(&layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some(vs),
                compilation_options: Default::default(),
                buffers,
            },
            primitive: wgpu::PrimitiveState {
                topology,
                ..Default::default()
            },
            depth_stencil: None,
            multisample: wgpu::MultisampleState {
                count: samples,
                mask: !0,
                alpha_to_coverage_enabled: false,
            },
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        })
    };
    let curve_attrs = [
        wgpu::VertexAttribute {
            format: wgpu::VertexFormat::Float32,
            offset: 0,
            shader_location: 0,
        },
        wgpu::VertexAttribute {
            format: wgpu::VertexFormat::Float32,
            offset: 0,
            shader_location: 1,
        },
    ];
    let instance_attrs = wgpu::vertex_attr_array![2 => Float32x4, 3 => Float32x4, 4 => Float32x2];
    let flat_attrs = wgpu::vertex_attr_array![0 => Float32x2, 1 => Float32x4];
    let curve_pipeline = pipeline(
        "curve_vs",
        &[
            vertex_layout(4, wgpu::VertexStepMode::Vertex, &curve_attrs[..1]),
            vertex_layout(4, wgpu::VertexStepMode::Vertex, &curve_attrs[1..]),
            vertex_layout(
                std::mem::size_of::<Instance>() as u64,
                wgpu::VertexStepMode::Instance,
                &instance_attrs,
            ),
        ],
        wgpu::PrimitiveTopology::LineStrip,
    );
    let flat = [vertex_layout(
        std::mem::size_of::<Vertex>() as u64,
        wgpu::VertexStepMode::Vertex,
        &flat_attrs,
    )];
    let line_pipeline = pipeline("flat_vs", &flat, wgpu::PrimitiveTopology::LineList);
    let tri_pipeline = pipeline("flat_vs", &flat, wgpu::PrimitiveTopology::TriangleList);

    // Per curve, four instances nudged by half a pixel each way: lines two pixels wide.
    let nudges = [(-0.5f32, -0.5f32), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)];
    let mut instances = Vec::new();
    for k in 0..curves {
        let panel = &PANELS[k / acts.len()];
        for (nx, ny) in nudges {
            instances.push(Instance {
                color: rgba(COLORS[k % acts.len()]),
                xform: panel.xform(w, h),
                nudge: [nx * 2.0 / w, -ny * 2.0 / h],
            });
        }
    }
    let upload = |label, bytes: &[u8]| {
        wgpu::util::DeviceExt::create_buffer_init(
            device,
            &wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage: wgpu::BufferUsages::VERTEX,
            },
        )
    };
    let instance_buf = upload("curve instances", bytemuck::cast_slice(&instances));
    let deco = decorations(w, h);
    let key = legend(w, h);
    let deco_lines = upload("axes", bytemuck::cast_slice(&deco.lines));
    let deco_tris = upload("labels", bytemuck::cast_slice(&deco.tris));
    let key_tris = upload("legend", bytemuck::cast_slice(&key.tris));

    let size = wgpu::Extent3d {
        width,
        height,
        depth_or_array_layers: 1,
    };
    let texture = |label, sample_count, usage| {
        device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size,
            mip_level_count: 1,
            sample_count,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage,
            view_formats: &[],
        })
    };
    let msaa = texture(
        "figure msaa",
        samples,
        wgpu::TextureUsages::RENDER_ATTACHMENT,
    );
    let resolved = texture(
        "figure",
        1,
        wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
    );
    let msaa_view = msaa.create_view(&Default::default());
    let resolved_view = resolved.create_view(&Default::default());
    // Texture-to-buffer copies need rows padded to 256 bytes.
    let row = width as u64 * 4;
    let padded = row.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as u64);
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("figure readback"),
        size: padded * height as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });

    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("render_curves"),
    });
    // The compute pass: all twelve curves.
    chain.record(&mut encoder)?;
    {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("figure"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &msaa_view,
                depth_slice: None,
                resolve_target: Some(&resolved_view),
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::WHITE),
                    store: wgpu::StoreOp::Discard,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_pipeline(&line_pipeline);
        pass.set_vertex_buffer(0, deco_lines.slice(..));
        pass.draw(0..deco.lines.len() as u32, 0..1);
        pass.set_pipeline(&tri_pipeline);
        pass.set_vertex_buffer(0, deco_tris.slice(..));
        pass.draw(0..deco.tris.len() as u32, 0..1);

        pass.set_pipeline(&curve_pipeline);
        pass.set_vertex_buffer(0, x_buf.slice(..));
        pass.set_vertex_buffer(2, instance_buf.slice(..));
        for k in 0..curves {
            let (l, t, r, b) = PANELS[k / acts.len()].px;
            pass.set_scissor_rect(l as u32, t as u32, (r - l) as u32 + 1, (b - t) as u32 + 1);
            let bytes = (n * 4) as u64;
            pass.set_vertex_buffer(1, y_buf.slice(k as u64 * bytes..(k as u64 + 1) * bytes));
            pass.draw(
                0..n as u32,
                (k * nudges.len()) as u32..((k + 1) * nudges.len()) as u32,
            );
        }
        pass.set_scissor_rect(0, 0, width, height);

        pass.set_pipeline(&tri_pipeline);
        pass.set_vertex_buffer(0, key_tris.slice(..));
        pass.draw(0..key.tris.len() as u32, 0..1);
    }
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture: &resolved,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &readback,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded as u32),
                rows_per_image: None,
            },
        },
        size,
    );
    ctx.queue().submit([encoder.finish()]);

    let slice = readback.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device.poll(wgpu::PollType::Wait {
        submission_index: None,
        timeout: None,
    })?;
    rx.recv()??;
    let mut pixels = Vec::with_capacity((row * height as u64) as usize);
    {
        let view = slice.get_mapped_range()?;
        for r in 0..height as usize {
            let at = r * padded as usize;
            pixels.extend_from_slice(&view[at..at + row as usize]);
        }
    }
    readback.unmap();
    let values = ctx.read::<f32>(&y_buf, 0, curves * n)?;
    Ok(Figure {
        width,
        height,
        rgba: pixels,
        curves: values,
        xs,
    })
}

/// Write `figure` as an 8-bit RGBA PNG.
pub fn write_png(path: &std::path::Path, figure: &Figure) -> Result<(), Box<dyn Error>> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, figure.width, figure.height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&figure.rgba)?;
    writer.finish()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut output = std::path::PathBuf::from("curves.png");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--output" | "-o" => {
                output = args.next().ok_or("--output needs a file name")?.into();
            }
            other => {
                return Err(format!("unknown argument `{other}` (use --output FILE.png)").into())
            }
        }
    }
    let ctx = Context::new()?;
    let figure = render(&ctx, 1200, 800)?;
    write_png(&output, &figure)?;
    let adapter = ctx.adapter_info().map_or("?".into(), |i| i.name.clone());
    println!(
        "wrote {} ({}×{}, drawn on {adapter})",
        output.display(),
        figure.width,
        figure.height
    );
    Ok(())
}
