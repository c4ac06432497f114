"""One round of tool calling by hand: the model asks, we run the tool, it answers."""

from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool

from langchain_nebula import ChatNebula


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny and 21 C in {city}."


model = ChatNebula().bind_tools([get_weather])
history = [HumanMessage("What's the weather in Montreal?")]
ai_msg = model.invoke(history)
history.append(ai_msg)
for call in ai_msg.tool_calls:
    print("tool call:", call["name"], call["args"])
    history.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
print(model.invoke(history).content)
