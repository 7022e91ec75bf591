// The Unity sample's ShapeNames (unity_sample/Runtime/ShapeNames.cs), run outside Unity: which of a rig's
// blendshapes each ARKit shape drives, for the naming styles of real rigs. Built with mcs and run with mono
// by tests/test_unity_sample.py; prints one line per case and exits 1 if any fails.
using System;
using System.Collections.Generic;
using System.Linq;
using Facecast;
using static Cases;

static class ShapeNamesSpec
{
    static readonly KeyValuePair<string, string>[] NoAliases = new KeyValuePair<string, string>[0];

    // The rig's shape each ARKit name gets ("-" for none).
    static string Shape(string[] rig, int[] map, string arkit)
    {
        int i = map[Array.IndexOf(MotionLayout.ArkitNames, arkit)];
        return i < 0 ? "-" : rig[i];
    }

    static void Expect(string what, string actual, string expected)
    {
        if (actual == expected) return;
        throw new Exception($"{what}: {actual}, expected {expected}");
    }

    // Every ARKit name in a rig's own style, plus shapes of its own that are no ARKit shape.
    static string[] Rig(Func<string, string> style, params string[] others) =>
        MotionLayout.ArkitNames.Select(style).Concat(others).ToArray();

    static void AllMapped(string[] rig, int[] map)
    {
        for (int k = 0; k < MotionLayout.ArkitNames.Length; k++)
            Expect(MotionLayout.ArkitNames[k], map[k] < 0 ? "-" : rig[map[k]], rig[k]);
    }

    // "eyeBlinkLeft" -> "eyeBlink" + side + "L" ("eyeBlink_L", "eyeBlink.L"); names without a side stay.
    static Func<string, string> Sided(string separator) => n =>
        n.EndsWith("Left") ? n.Substring(0, n.Length - 4) + separator + "L"
        : n.EndsWith("Right") ? n.Substring(0, n.Length - 5) + separator + "R" : n;

    static int Main()
    {
        Case("Ready Player Me: ARKit's own names, beside its visemes", () =>
        {
            var rig = Rig(n => n, "viseme_aa", "viseme_PP", "mouthOpen", "mouthSmile");
            AllMapped(rig, ShapeNames.Map(rig, NoAliases));
        });
        Case("Perfect Sync VRM: PascalCase", () =>
        {
            var rig = Rig(n => char.ToUpperInvariant(n[0]) + n.Substring(1), "Fcl_ALL_Neutral", "Fcl_EYE_Close");
            AllMapped(rig, ShapeNames.Map(rig, NoAliases));
        });
        Case("exports with a mesh prefix", () =>
        {
            var dotted = Rig(n => "blendShape1." + n);
            AllMapped(dotted, ShapeNames.Map(dotted, NoAliases));
            var prefixed = Rig(n => "Face.M_F00_000_00_" + n);
            AllMapped(prefixed, ShapeNames.Map(prefixed, NoAliases));
        });
        Case("side suffixes: _L, Blender's .L, -R, \" R\", lower case", () =>
        {
            foreach (var separator in new[] { "_", ".", "-", " " })
            {
                var rig = Rig(Sided(separator));
                AllMapped(rig, ShapeNames.Map(rig, NoAliases));
            }
            var lower = Rig(n => Sided("_")(n).ToLowerInvariant());
            AllMapped(lower, ShapeNames.Map(lower, NoAliases));
            var blender = Rig(n => "Face." + Sided(".")(n));
            AllMapped(blender, ShapeNames.Map(blender, NoAliases));
        });
        Case("a longer shape does not drive a shorter ARKit name it ends like", () =>
        {
            var rig = new[] { "mouthSmileLeft", "eyeWideLeft", "jawOpen" };
            var map = ShapeNames.Map(rig, NoAliases);
            Expect("mouthLeft", Shape(rig, map, "mouthLeft"), "-");
            Expect("mouthSmileLeft", Shape(rig, map, "mouthSmileLeft"), "mouthSmileLeft");
            Expect("jawLeft", Shape(rig, map, "jawLeft"), "-");
            Expect("missing shapes", map.Count(i => i >= 0).ToString(), "3");
        });
        Case("aliases name a rig's own shapes, over what the names match", () =>
        {
            var rig = new[] { "Fcl_MTH_A", "Fcl_EYE_Close_L", "jawOpen", "eyeBlinkLeft" };
            var aliases = new[]
            {
                new KeyValuePair<string, string>("jawOpen", "Fcl_MTH_A"),
                new KeyValuePair<string, string>("EyeBlinkLeft", "Fcl_EYE_Close_L"),
                new KeyValuePair<string, string>("mouthClose", "no such shape"),
            };
            var map = ShapeNames.Map(rig, aliases);
            Expect("jawOpen", Shape(rig, map, "jawOpen"), "Fcl_MTH_A");
            Expect("eyeBlinkLeft", Shape(rig, map, "eyeBlinkLeft"), "Fcl_EYE_Close_L");
            Expect("mouthClose", Shape(rig, map, "mouthClose"), "-");
        });
        return Finish();
    }
}
