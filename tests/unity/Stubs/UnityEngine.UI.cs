// Compile-only reference stubs of the uGUI (com.unity.ugui) members the Unity sample uses; never run, every
// body throws. See UnityEngine.cs for the rules. Only the class hierarchy down to RawImage and the two
// RawImage properties FacecastTextureView sets are declared; interfaces (ICanvasElement, IClippable, ...)
// and every other member are left out.
//
// Where each signature was checked (Unity-Technologies/uGUI unless noted):
//   RawImage : MaskableGraphic (namespace UnityEngine.UI, public class, protected ctor);
//     Texture texture {get;set;}; Rect uvRect {get;set;}        UnityEngine.UI/UI/Core/RawImage.cs (read_file)
//   MaskableGraphic : Graphic (abstract)                       UnityEngine.UI/UI/Core/MaskableGraphic.cs (read_file)
//   Graphic : UIBehaviour (abstract, UnityEngine.UI)           find_string "class Graphic : UIBehaviour"
//                                                              (decompiled UnityEngine.UI: "public abstract class
//                                                              Graphic : UIBehaviour, ICanvasElement")
//   UIBehaviour : MonoBehaviour (abstract, UnityEngine.EventSystems)
//                                                              find_string "public abstract class UIBehaviour :
//                                                              MonoBehaviour" (uGUI source and decompiled copies,
//                                                              namespace UnityEngine.EventSystems)
using System;

namespace UnityEngine.EventSystems
{
    public abstract class UIBehaviour : MonoBehaviour { }
}

namespace UnityEngine.UI
{
    public abstract class Graphic : UnityEngine.EventSystems.UIBehaviour { }

    public abstract class MaskableGraphic : Graphic { }

    public class RawImage : MaskableGraphic
    {
        protected RawImage() { }
        public Texture texture { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public Rect uvRect { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
    }
}
