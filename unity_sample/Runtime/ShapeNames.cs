// Which of a rig's blendshapes is which ARKit shape. Rigs name their shapes differently; matching ignores
// case, separators and prefixes, so one rule serves ARKit / Perfect Sync VRM ("EyeBlinkLeft"), Ready Player
// Me ("eyeBlinkLeft"), exports with a mesh prefix ("blendShape1.eyeBlinkLeft",
// "Face.M_F00_000_00_eyeBlinkLeft") and side suffixes ("eyeBlink_L", Blender's "eyeBlink.L", "eyeBlink-R").
// Plain C#, so tests/unity/ShapeNamesSpec.cs runs it outside Unity.
using System.Collections.Generic;
using System.Text;

namespace Facecast
{
    public static class ShapeNames
    {
        const string SideSeparators = "_.- ";

        /// <summary>The form names are matched in: lower case, letters and digits only, without a prefix
        /// before the last '.', and a side suffix ("_L", ".L", "-R", " r") spelled out as "left" / "right".</summary>
        public static string Normalize(string name)
        {
            string side = "";
            int n = name.Length;
            if (n >= 2 && SideSeparators.IndexOf(name[n - 2]) >= 0)
            {
                char last = char.ToLowerInvariant(name[n - 1]);
                if (last == 'l' || last == 'r')
                {
                    side = last == 'l' ? "left" : "right";
                    name = name.Substring(0, n - 2);  // before the prefix is cut: Blender's ".L" is a side
                }
            }
            int dot = name.LastIndexOf('.');
            if (dot >= 0) name = name.Substring(dot + 1);
            var chars = new StringBuilder();
            foreach (char c in name)
                if (char.IsLetterOrDigit(c)) chars.Append(char.ToLowerInvariant(c));
            return chars + side;
        }

        /// <summary>For each of the 52 ARKit shapes (MotionLayout.ArkitNames' order), the index of the rig's
        /// shape that plays it, or -1 if the rig has none. <paramref name="aliases"/> (ARKit name, the rig's
        /// exact shape name) come first, over what the names match.</summary>
        public static int[] Map(IList<string> shapes, IEnumerable<KeyValuePair<string, string>> aliases)
        {
            var byName = new Dictionary<string, int>();
            for (int i = 0; i < shapes.Count; i++)
            {
                string normalized = Normalize(shapes[i]);
                // Prefixed exports ("m_f00_000_00_eyeblinkleft"): every ARKit name the shape's name ends with.
                // No ARKit name ends with another, so a shape matches one at most.
                foreach (var arkit in MotionLayout.ArkitNames)
                {
                    string key = arkit.ToLowerInvariant();
                    if (normalized.EndsWith(key)) byName[key] = i;
                }
            }
            foreach (var alias in aliases)
            {
                int i = shapes.IndexOf(alias.Value);
                if (i >= 0) byName[alias.Key.ToLowerInvariant()] = i;
            }
            var map = new int[MotionLayout.ArkitNames.Length];
            for (int k = 0; k < map.Length; k++)
                map[k] = byName.TryGetValue(MotionLayout.ArkitNames[k].ToLowerInvariant(), out int i) ? i : -1;
            return map;
        }
    }
}
