using System.Runtime.CompilerServices;

namespace Busbar.Benchmarks.Infrastructure;

/// <summary>
/// Finishes a publish that returned a task-like value. Every async-shaped row goes through the same
/// helper so they share the same harness cost; the rows here complete synchronously, so the slow
/// branch only runs if a peer unexpectedly goes asynchronous.
/// </summary>
public static class Sync
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Complete(ValueTask task)
    {
        if (!task.IsCompletedSuccessfully)
        {
            task.AsTask().GetAwaiter().GetResult();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Complete(Task task)
    {
        if (!task.IsCompletedSuccessfully)
        {
            task.GetAwaiter().GetResult();
        }
    }
}
