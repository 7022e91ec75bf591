// Compile-only reference stubs of the Input System package (com.unity.inputsystem, assembly
// Unity.InputSystem) members the sample uses where a project has the package active (ENABLE_INPUT_SYSTEM):
// reading a key. As in UnityEngine.cs, only what the scripts use is declared, with the package's own
// signatures, and every body throws.
//
// Where each signature was checked (Unity-Technologies/InputSystem, read with read_file at the commit given):
//   InputControl (abstract class), AxisControl : InputControl<float>, ButtonControl : AxisControl;
//     bool ButtonControl.wasPressedThisFrame {get;}   Packages/com.unity.inputsystem/InputSystem/Controls/ButtonControl.cs @ d0acfcc4
//   KeyControl : ButtonControl (namespace UnityEngine.InputSystem.Controls)
//   InputDevice : InputControl; Keyboard : InputDevice; static Keyboard current {get;};
//     KeyControl spaceKey {get;}, mKey {get;}   Packages/com.unity.inputsystem/InputSystem/Devices/Keyboard.cs @ e4ef3534
using System;

namespace UnityEngine.InputSystem
{
    public abstract class InputControl
    {
    }

    public abstract class InputControl<TValue> : InputControl where TValue : struct
    {
    }

    public class InputDevice : InputControl
    {
    }

    public class Keyboard : InputDevice
    {
        public static Keyboard current { get { throw new NotImplementedException(); } }
        public Controls.KeyControl spaceKey { get { throw new NotImplementedException(); } }
        public Controls.KeyControl mKey { get { throw new NotImplementedException(); } }
    }
}

namespace UnityEngine.InputSystem.Controls
{
    public class AxisControl : InputControl<float>
    {
    }

    public class ButtonControl : AxisControl
    {
        public bool wasPressedThisFrame { get { throw new NotImplementedException(); } }
    }

    public class KeyControl : ButtonControl
    {
    }
}
