namespace Busbar;

/// <summary>The rest of a handler's middleware pipeline: the next middleware, or the handler itself after the last one.</summary>
/// <param name="invocation">The invocation being run; pass on the one the middleware received.</param>
/// <returns>A task that completes when the rest of the pipeline (and the handler, unless a later middleware skipped it) has ended.</returns>
/// <remarks>It throws what the rest of the pipeline threw, the handler's exception included.</remarks>
public delegate ValueTask HandlerDelegate(HandlerInvocation invocation);
