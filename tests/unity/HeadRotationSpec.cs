// The Unity sample's head and eye rotations (unity_sample/Runtime/MotionFrame.cs, HeadEulerX...), run
// outside Unity: a motion frame's pitch, yaw and roll, given to Quaternion.Euler as the driver gives them,
// turn a character that faces +z the way the frame means (bridge/PROTOCOL.md: +pitch looks down, +yaw
// turns to its left, +roll tilts toward its left shoulder; gaze +yaw to its left, +pitch up). Quaternion.Euler
// is written out here from Unity's documentation: z degrees about z, then x about x, then y about y, each
// counter-clockwise looking from the origin along its axis, in Unity's left-handed axes (x right, y up,
// z forward), where a character facing +z has its left at -x. Built with mcs and run with mono by
// tests/test_unity_sample.py.
using System;
using Facecast;
using static Cases;

static class HeadRotationSpec
{
    // Unity's Quaternion.Euler(x, y, z) applied to vector v: Ry(y) Rx(x) Rz(z) v, angles in degrees.
    static double[] Euler(double x, double y, double z, double[] v) => RotY(y, RotX(x, RotZ(z, v)));

    static double[] RotZ(double deg, double[] a)
    {
        double c = Math.Cos(deg * Math.PI / 180), s = Math.Sin(deg * Math.PI / 180);
        return new[] { c * a[0] - s * a[1], s * a[0] + c * a[1], a[2] };
    }

    static double[] RotX(double deg, double[] a)
    {
        double c = Math.Cos(deg * Math.PI / 180), s = Math.Sin(deg * Math.PI / 180);
        return new[] { a[0], c * a[1] - s * a[2], s * a[1] + c * a[2] };
    }

    static double[] RotY(double deg, double[] a)
    {
        double c = Math.Cos(deg * Math.PI / 180), s = Math.Sin(deg * Math.PI / 180);
        return new[] { c * a[0] + s * a[2], a[1], -s * a[0] + c * a[2] };
    }

    static readonly double[] Forward = { 0, 0, 1 }, Up = { 0, 1, 0 }, Right = { 1, 0, 0 };

    static MotionFrame Frame(int offset, float value)
    {
        var frame = new MotionFrame();
        frame.Values[offset] = value;
        return frame;
    }

    static double[] Head(MotionFrame f, double[] v) => Euler(f.HeadEulerX, f.HeadEulerY, f.HeadEulerZ, v);
    static double[] LeftEye(MotionFrame f) => Euler(f.LeftEyeEulerX, f.LeftEyeEulerY, 0, Forward);
    static double[] RightEye(MotionFrame f) => Euler(f.RightEyeEulerX, f.RightEyeEulerY, 0, Forward);

    static void Expect(string what, bool holds, double[] v)
    {
        if (!holds) throw new Exception($"{what}: got ({v[0]:F3}, {v[1]:F3}, {v[2]:F3})");
    }

    static int Main()
    {
        int head = MotionLayout.HeadRotation, gaze = MotionLayout.Gaze;
        // Unity's own examples first, so that the Euler written out here is Unity's.
        Case("Unity: Euler(0, 90, 0) turns forward to the right", () =>
        {
            var v = Euler(0, 90, 0, Forward);
            Expect("forward", v[0] > 0.99, v);
        });
        Case("Unity: Euler(90, 0, 0) turns forward down", () =>
        {
            var v = Euler(90, 0, 0, Forward);
            Expect("forward", v[1] < -0.99, v);
        });
        Case("Unity: Euler(0, 0, 90) turns right to up", () =>
        {
            var v = Euler(0, 0, 90, Right);
            Expect("right", v[1] > 0.99, v);
        });
        Case("+pitch looks down", () =>
        {
            var v = Head(Frame(head, 15), Forward);
            Expect("forward", v[1] < -0.2 && Math.Abs(v[0]) < 1e-6, v);
        });
        Case("+yaw turns to the character's left", () =>
        {
            var v = Head(Frame(head + 1, 15), Forward);
            Expect("forward", v[0] < -0.2 && Math.Abs(v[1]) < 1e-6, v);
        });
        Case("+roll tilts toward the character's left shoulder", () =>
        {
            var v = Head(Frame(head + 2, 15), Up);
            Expect("up", v[0] < -0.2 && Math.Abs(v[2]) < 1e-6, v);
        });
        Case("gaze +yaw looks to the character's left, +pitch up, each eye its own", () =>
        {
            Expect("left eye, yaw", LeftEye(Frame(gaze, 20))[0] < -0.3, LeftEye(Frame(gaze, 20)));
            Expect("left eye, pitch", LeftEye(Frame(gaze + 1, 20))[1] > 0.3, LeftEye(Frame(gaze + 1, 20)));
            Expect("right eye, yaw", RightEye(Frame(gaze + 2, 20))[0] < -0.3, RightEye(Frame(gaze + 2, 20)));
            Expect("right eye, pitch", RightEye(Frame(gaze + 3, 20))[1] > 0.3, RightEye(Frame(gaze + 3, 20)));
            Expect("left eye, still", LeftEye(Frame(gaze + 2, 20))[2] > 0.9999, LeftEye(Frame(gaze + 2, 20)));
        });
        return Finish();
    }
}
