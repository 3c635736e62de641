using System.Collections.ObjectModel;
using System.ComponentModel.DataAnnotations;

namespace Busbar;

/// <summary>Thrown by a publish when the event fails validation. Nothing was queued.</summary>
public sealed class EventValidationException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public EventValidationException() : this("The event is invalid.") { }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public EventValidationException(string message) : base(message) => Errors = ReadOnlyCollection<ValidationResult>.Empty;

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public EventValidationException(string message, Exception innerException) : base(message, innerException) => Errors = ReadOnlyCollection<ValidationResult>.Empty;

    /// <summary>Creates the exception for an event name and its validation errors.</summary>
    /// <param name="eventName">The event name.</param>
    /// <param name="errors">The errors, each with its member names and message.</param>
    public EventValidationException(string eventName, IReadOnlyList<ValidationResult> errors)
        : base(Format(eventName, errors))
    {
        EventName = eventName;
        Errors = errors;
    }

    /// <summary>The name of the invalid event.</summary>
    public string? EventName { get; }

    /// <summary>Every validation error, with member names and message.</summary>
    public IReadOnlyList<ValidationResult> Errors { get; }

    private static string Format(string eventName, IReadOnlyList<ValidationResult> errors)
    {
        var parts = new string[errors.Count];
        for (var i = 0; i < errors.Count; i++)
        {
            var members = string.Join(", ", errors[i].MemberNames);
            parts[i] = members.Length == 0 ? errors[i].ErrorMessage ?? "invalid" : $"{members}: {errors[i].ErrorMessage}";
        }

        return $"Event '{eventName}' is invalid: {string.Join("; ", parts)}";
    }
}
