using System.ComponentModel.DataAnnotations;

namespace Busbar;

/// <summary>Validates events of type <typeparamref name="T"/> at publish, before anything is queued or written.</summary>
/// <typeparam name="T">The event type (subtypes are validated too).</typeparam>
public interface IEventValidator<in T>
{
    /// <summary>Adds one entry to <paramref name="errors"/> per problem found.</summary>
    /// <param name="event">The event.</param>
    /// <param name="errors">Where to add problems.</param>
    void Validate(T @event, ICollection<ValidationResult> errors);
}
